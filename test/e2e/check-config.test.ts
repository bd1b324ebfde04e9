/**
 * `unireg check-config` as a real process: prints the effective configuration
 * (file, then UNIREG_* variables) with secrets redacted, exits 2 with serve's
 * own messages on a bad one, and neither opens the data root nor listens.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';

const HASH = `$2y$05$${'Q'.repeat(53)}`;

describe('unireg check-config', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'unireg-check-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('prints the file with env overrides applied and secrets redacted; opens nothing, listens on nothing', async () => {
    const dir = await tmp();
    const root = join(dir, 'data');
    // A port that is taken: serve could not listen there, check-config does not try.
    const busy: Server = await new Promise((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => ok(s));
    });
    const port = (busy.address() as { port: number }).port;
    try {
      const file = join(dir, 'unireg.yaml');
      await writeFile(
        file,
        [
          'http:',
          `  addr: 127.0.0.1:${port}`,
          'storage:',
          `  root: ${root}`,
          'auth:',
          '  mode: basic',
          '  users:',
          `    alice: "${HASH}"`,
          '  token:',
          '    realm: https://bob:hunter2@auth.example.com/token',
          '',
        ].join('\n'),
      );
      const r = await runCli(['check-config', '--config', file], { UNIREG_LOG_LEVEL: 'debug', UNIREG_GC_SCHEDULE: '12h' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^# unireg configuration: valid\n# from file .*unireg\.yaml, then UNIREG_GC_SCHEDULE, UNIREG_LOG_LEVEL; secrets redacted\n/);
      assert.ok(!r.stdout.includes(HASH), 'the bcrypt hash is not printed');
      assert.ok(!r.stdout.includes('hunter2'), 'the password in the realm URL is not printed');
      const printed = parseYaml(r.stdout) as Record<string, Record<string, unknown>>;
      assert.equal(printed.log!.level, 'debug', 'UNIREG_LOG_LEVEL wins over the default');
      assert.equal(printed.gc!.schedule, '12h');
      assert.equal(printed.http!.addr, `127.0.0.1:${port}`, 'from the file');
      assert.equal(printed.http!.shutdownGrace, 10, 'defaults are printed too');
      assert.deepEqual(printed.auth!.users, { alice: '<redacted>' }, 'user names stay, hashes go');
      assert.equal((printed.auth!.token as Record<string, unknown>).realm, 'https://bob:<redacted>@auth.example.com/token');
      assert.equal(existsSync(root), false, 'the data root was not created: no database opened');
    } finally {
      await new Promise((ok) => busy.close(ok));
    }
  });

  test('what it prints (with nothing to redact) loads back as the same configuration', async () => {
    const dir = await tmp();
    const env = { UNIREG_CONFIG: join(dir, 'in.yaml'), UNIREG_UPLOADS_EXPIRY: '2h' };
    await writeFile(env.UNIREG_CONFIG, 'storage:\n  root: /var/lib/unireg\nquotas:\n  - repository: "team/**"\n    bytes: 10GiB\n');
    const r = await runCli(['check-config'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = join(dir, 'out.yaml');
    await writeFile(out, r.stdout);
    assert.deepEqual(await loadConfig({ file: out, env: {} }), await loadConfig({ file: env.UNIREG_CONFIG, env }));
  });

  test('an invalid file: exit 2 with exactly the messages serve gives', async () => {
    const dir = await tmp();
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'http:\n  addr: 0.0.0.0:5000\n  adr: x\nstorage:\n  root: ./s\n');
    const env = { UNIREG_HTTP_MAX_CONNECTIONS: 'many' };
    const checked = await runCli(['check-config', '--config', file], env);
    const served = await runCli(['serve', '--config', file], env);
    assert.equal(checked.code, 2);
    assert.equal(checked.stdout, '');
    assert.match(checked.stderr, /^unireg: invalid configuration:\n/);
    assert.match(checked.stderr, /http\.maxConnections \(from UNIREG_HTTP_MAX_CONNECTIONS\): expected a number/);
    assert.equal(served.code, 2);
    assert.equal(checked.stderr, served.stderr);

    const schema = await runCli(['check-config', '--config', file]);
    const schemaServed = await runCli(['serve', '--config', file]);
    assert.equal(schema.code, 2);
    assert.match(schema.stderr, /http\.adr: /);
    assert.match(schema.stderr, /auth\.mode: unireg would listen on 0\.0\.0\.0:5000 with no authentication/);
    assert.equal(schema.stderr, schemaServed.stderr);
  });

  test('an unknown UNIREG_ variable: exit 2 naming it, as serve', async () => {
    const env = { UNIREG_HTTP_ADR: '127.0.0.1:5000' };
    const checked = await runCli(['check-config'], env);
    assert.equal(checked.code, 2);
    assert.equal(checked.stderr, 'unireg: invalid configuration:\n  unknown environment variable(s): UNIREG_HTTP_ADR\n');
    assert.equal(checked.stderr, (await runCli(['serve'], env)).stderr);
  });

  test('a missing file, --help and a bad option', async () => {
    const missing = await runCli(['check-config', '--config', '/nonexistent/unireg.yaml']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config file \/nonexistent\/unireg\.yaml/);
    const help = await runCli(['check-config', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: unireg check-config \[--config FILE\]/);
    const bad = await runCli(['check-config', '--root', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^unireg: Unknown option '--root'/);
    const usage = await runCli(['--help']);
    assert.match(usage.stdout, /unireg check-config \[--config FILE\]/);
  });
});
