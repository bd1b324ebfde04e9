import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { envName, envSettingsOf, ENV_SETTINGS } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema, durationMs } from '../../src/config/schema.js';
import { scratchDirs } from '../helpers/scratch.js';

const tmp = scratchDirs('unireg-config-');
const configSchemaDefaults = () => configSchema.parse({});

async function yamlFile(text: string): Promise<string> {
  const dir = await tmp();
  const file = join(dir, 'config.yaml');
  await writeFile(file, text);
  return file;
}

async function problems(options: Parameters<typeof loadConfig>[0]): Promise<string[]> {
  try {
    await loadConfig(options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('defaults: loopback :5000, ./storage, 4 MiB manifests, deletes on, no mount without from', async () => {
    const c = await loadConfig({ env: {} });
    assert.equal(c.http.addr, '127.0.0.1:5000');
    assert.equal(c.storage.root, './storage');
    assert.equal(c.manifests.maxSize, 4 * 1024 * 1024);
    assert.equal(c.deletes.enabled, true);
    assert.equal(c.uploads.mountWithoutFrom, false);
  });

  test('env names are derived mechanically from key paths', () => {
    assert.equal(envName(['http', 'addr']), 'UNIREG_HTTP_ADDR');
    assert.equal(envName(['storage', 'root']), 'UNIREG_STORAGE_ROOT');
    assert.equal(envName(['uploads', 'mountWithoutFrom']), 'UNIREG_UPLOADS_MOUNT_WITHOUT_FROM');
    assert.ok(ENV_SETTINGS.some((s) => s.env === 'UNIREG_MANIFESTS_MAX_SIZE'));
  });

  test('the file is read, then the environment overrides it with typed values', async () => {
    const file = await yamlFile('http:\n  addr: 127.0.0.1:6000\nuploads:\n  expiry: 2h\ndeletes:\n  enabled: true\n');
    const c = await loadConfig({
      file,
      env: { UNIREG_HTTP_ADDR: '127.0.0.1:7000', UNIREG_DELETES_ENABLED: 'false', UNIREG_MANIFESTS_MAX_SIZE: '1024', UNIREG_UPLOADS_EXPIRY: '90' },
    });
    assert.equal(c.http.addr, '127.0.0.1:7000');
    assert.equal(c.deletes.enabled, false);
    assert.equal(c.manifests.maxSize, 1024);
    assert.equal(durationMs(c.uploads.expiry), 90_000);
  });

  test('unknown keys are rejected and named', async () => {
    const file = await yamlFile('http:\n  adr: 127.0.0.1:6000\nstorge: {}\n');
    const p = await problems({ file, env: {} });
    assert.ok(p.some((x) => x.includes('http.adr')), p.join('\n'));
    assert.ok(p.some((x) => x.includes('storge')), p.join('\n'));
  });

  test('a bad value names its key, and the variable it came from', async () => {
    const p = await problems({ env: { UNIREG_HTTP_ADDR: 'nonsense' } });
    assert.ok(p.some((x) => x.startsWith('http.addr (from UNIREG_HTTP_ADDR)')), p.join('\n'));
    const q = await problems({ env: { UNIREG_LOG_LEVEL: 'loud' } });
    assert.ok(q.some((x) => x.startsWith('log.level')), q.join('\n'));
  });

  test('environment values are typed by the schema leaf, not by the default value', async () => {
    // String leaves stay strings, whatever the text looks like.
    const c = await loadConfig({ env: { UNIREG_STORAGE_ROOT: '5000', UNIREG_AUTH_BASIC_REALM: '42', UNIREG_AUTH_TOKEN_SERVICE: 'true' } });
    assert.equal(c.storage.root, '5000');
    assert.equal(c.auth.basicRealm, '42');
    assert.equal(c.auth.token.service, 'true');
    // Numbers, booleans and durations from their text.
    const d = await loadConfig({ env: { UNIREG_MANIFESTS_MAX_SIZE: ' 2048 ', UNIREG_DELETES_ENABLED: 'OFF', UNIREG_HTTP_SHUTDOWN_GRACE: '2.5', UNIREG_UPLOADS_EXPIRY: '15m' } });
    assert.equal(d.manifests.maxSize, 2048);
    assert.equal(d.deletes.enabled, false);
    assert.equal(durationMs(d.http.shutdownGrace), 2500);
    assert.equal(durationMs(d.uploads.expiry), 15 * 60_000);
    assert.deepEqual((await loadConfig({ env: { UNIREG_UNIKERNEL_KCONFIG_SKIP: 'CONFIG_A, CONFIG_B,' } })).unikernel.kconfigSkip, ['CONFIG_A', 'CONFIG_B']);
  });

  test('a word or a duration (gc.untagged, gc.schedule) from the environment; a zero grace works', async () => {
    const keep = await loadConfig({ env: { UNIREG_GC_UNTAGGED: 'keep', UNIREG_GC_SCHEDULE: 'off', UNIREG_GC_GRACE: '0s' } });
    assert.equal(keep.gc.untagged, 'keep');
    assert.equal(keep.gc.schedule, 'off');
    assert.equal(durationMs(keep.gc.grace), 0);
    const timed = await loadConfig({ env: { UNIREG_GC_UNTAGGED: '2h', UNIREG_GC_SCHEDULE: '86400' } });
    assert.equal(timed.gc.untagged, '2h');
    assert.equal(durationMs(timed.gc.schedule as number), 86_400_000);
    const p = await problems({ env: { UNIREG_GC_UNTAGGED: 'sometimes' } });
    assert.ok(p.some((x) => x.startsWith('gc.untagged (from UNIREG_GC_UNTAGGED)')), p.join('\n'));
  });

  test('a number or boolean variable that is not one gets a message naming the variable and the text', async () => {
    const p = await problems({ env: { UNIREG_MANIFESTS_MAX_SIZE: '4M', UNIREG_AUTH_FAILED_LOGINS_LIMIT: 'five', UNIREG_DELETES_ENABLED: 'nah' } });
    assert.ok(has(p, 'manifests.maxSize (from UNIREG_MANIFESTS_MAX_SIZE): expected a number, got "4M"'), p.join('\n'));
    assert.ok(has(p, 'auth.failedLogins.limit (from UNIREG_AUTH_FAILED_LOGINS_LIMIT): expected a number'), p.join('\n'));
    assert.ok(has(p, 'deletes.enabled (from UNIREG_DELETES_ENABLED): expected true or false'), p.join('\n'));
  });

  test('a bare port in http.addr is refused with a message that says what to write', async () => {
    for (const addr of ['5653', ':5653']) {
      const p = await problems({ env: { UNIREG_HTTP_ADDR: addr } });
      assert.deepEqual(p, [
        'http.addr (from UNIREG_HTTP_ADDR): expected host:port, not a bare port: write 127.0.0.1:5653 (this machine only) or 0.0.0.0:5653 (every interface, needs auth.mode)',
      ]);
    }
    const q = await problems({ file: await yamlFile('http:\n  addr: 5653\n'), env: {} });
    assert.ok(has(q, 'http.addr: expected host:port, not a bare port: write 127.0.0.1:5653'), q.join('\n'));
  });

  test('the kinds come from the schema types, whatever the defaults look like', () => {
    const schema = z.object({
      a: z.object({ digits: z.string().default('5000'), word: z.enum(['x', 'y']).default('x') }).prefault({}),
      n: z.number().int().default(3),
      b: z.boolean().optional(),
      l: z.array(z.string()).default([]),
      d: z.union([z.number(), z.string()]).default('1m'),
      users: z.record(z.string(), z.string()).default({}),
      rules: z.array(z.object({ x: z.string() })).default([]),
    });
    assert.deepEqual(
      envSettingsOf(schema).map((s) => [s.env, s.kind]),
      [
        ['UNIREG_A_DIGITS', 'string'],
        ['UNIREG_A_WORD', 'string'],
        ['UNIREG_N', 'number'],
        ['UNIREG_B', 'boolean'],
        ['UNIREG_L', 'list'],
        ['UNIREG_D', 'duration'],
      ],
    );
    // A leaf type with no environment form is a programming error, found at start-up, not guessed.
    assert.throws(() => envSettingsOf(z.object({ when: z.date() })), /config when: no environment form for date/);
  });

  test("each variable's kind is its schema leaf's type", () => {
    const defaults = configSchemaDefaults();
    for (const s of ENV_SETTINGS) {
      const value = s.path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], defaults);
      const expected = { string: ['string'], number: ['number'], boolean: ['boolean'], list: ['array'], duration: ['number', 'string'] }[s.kind];
      assert.ok(expected.includes(Array.isArray(value) ? 'array' : typeof value), `${s.env} is a ${s.kind} but its default is ${JSON.stringify(value)}`);
    }
    const kind = (env: string) => ENV_SETTINGS.find((s) => s.env === env)?.kind;
    assert.equal(kind('UNIREG_HTTP_ADDR'), 'string');
    assert.equal(kind('UNIREG_MANIFESTS_MAX_SIZE'), 'number');
    assert.equal(kind('UNIREG_DELETES_ENABLED'), 'boolean');
    assert.equal(kind('UNIREG_UNIKERNEL_KCONFIG_SKIP'), 'list');
    assert.equal(kind('UNIREG_UPLOADS_EXPIRY'), 'duration');
  });

  test('an unknown UNIREG_ variable is an error', async () => {
    const p = await problems({ env: { UNIREG_HTTP_ADRESS: 'x' } });
    assert.match(p.join('\n'), /UNIREG_HTTP_ADRESS/);
  });

  test('a missing or malformed file is a clear error', async () => {
    assert.match((await problems({ file: '/nonexistent/unireg.yaml', env: {} })).join(), /cannot read config file/);
    assert.match((await problems({ file: await yamlFile('http: [1, 2'), env: {} })).join(), /not valid YAML/);
  });
});

/** A bcrypt hash (cost 4) of "secret", as `htpasswd -B -C 4` writes it. */
const HASH = '$2y$04$AElhLCufAAFci9HgcHJ.nO9GB/5KRL55/N49NC1Ins2jWehIYlcIK';

/** The problems of loading `tree` (written as a YAML file) with `env`. */
async function problemsOf(tree: unknown, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  return problems({ file: await yamlFile(toYaml(tree)), env });
}

async function loads(tree: unknown, env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ file: await yamlFile(toYaml(tree)), env });
}

function has(list: string[], prefix: string, ...parts: RegExp[]): boolean {
  return list.some((p) => p.startsWith(prefix) && parts.every((re) => re.test(p)));
}

describe('configuration: auth and TLS', () => {
  test('auth.mode none on a public address is refused, naming auth.mode and allowInsecureOpen', async () => {
    for (const addr of ['0.0.0.0:5000', '[::]:5000', '192.0.2.10:5000', 'registry.example.com:5000']) {
      const p = await problems({ env: { UNIREG_HTTP_ADDR: addr } });
      assert.ok(has(p, 'auth.mode', /no authentication/, /allowInsecureOpen/, new RegExp(addr.replace(/[[\].]/g, '\\$&'))), `${addr}:\n${p.join('\n')}`);
    }
    // The file says it as much as the environment does.
    const q = await problemsOf({ http: { addr: '0.0.0.0:5000' }, auth: { mode: 'none' } });
    assert.ok(has(q, 'auth.mode', /allowInsecureOpen/), q.join('\n'));
  });

  test('auth.allowInsecureOpen lets mode none serve a public address, from the file or UNIREG_AUTH_ALLOW_INSECURE_OPEN', async () => {
    const fromFile = await loads({ http: { addr: '0.0.0.0:5000' }, auth: { allowInsecureOpen: true } });
    assert.equal(fromFile.auth.mode, 'none');
    assert.equal(fromFile.auth.allowInsecureOpen, true);
    const fromEnv = await loadConfig({ env: { UNIREG_HTTP_ADDR: '0.0.0.0:5000', UNIREG_AUTH_ALLOW_INSECURE_OPEN: 'true' } });
    assert.equal(fromEnv.http.addr, '0.0.0.0:5000');
    assert.equal(fromEnv.auth.allowInsecureOpen, true);
    // false is false: still refused.
    const p = await problems({ env: { UNIREG_HTTP_ADDR: '0.0.0.0:5000', UNIREG_AUTH_ALLOW_INSECURE_OPEN: 'false' } });
    assert.ok(has(p, 'auth.mode'), p.join('\n'));
  });

  test('mode none is allowed on loopback addresses: 127.0.0.1, 127.x, [::1] and localhost', async () => {
    for (const addr of ['127.0.0.1:5000', '127.1.2.3:5000', '[::1]:5000', 'localhost:5000', 'LOCALHOST:5000']) {
      const c = await loadConfig({ env: { UNIREG_HTTP_ADDR: addr } });
      assert.equal(c.http.addr, addr);
      assert.equal(c.auth.mode, 'none');
    }
  });

  test('basic and token modes may listen on a public address', async () => {
    const basic = await loadConfig({ env: { UNIREG_HTTP_ADDR: '0.0.0.0:5000', UNIREG_AUTH_MODE: 'basic', UNIREG_AUTH_HTPASSWD: '/etc/unireg/htpasswd' } });
    assert.equal(basic.auth.mode, 'basic');
    const token = await loads({ http: { addr: '0.0.0.0:5000' }, auth: { mode: 'token', users: { alice: HASH } } });
    assert.equal(token.auth.mode, 'token');
  });

  test('basic mode with no users is refused; an htpasswd file or config users are enough', async () => {
    const p = await problems({ env: { UNIREG_AUTH_MODE: 'basic' } });
    assert.ok(has(p, 'auth.htpasswd', /basic mode needs users/), p.join('\n'));
    const q = await problemsOf({ auth: { mode: 'basic', users: {} } });
    assert.ok(has(q, 'auth.htpasswd', /basic mode needs users/), q.join('\n'));
    assert.equal((await loadConfig({ env: { UNIREG_AUTH_MODE: 'basic', UNIREG_AUTH_HTPASSWD: '/x/htpasswd' } })).auth.htpasswd, '/x/htpasswd');
    assert.deepEqual((await loads({ auth: { mode: 'basic', users: { alice: HASH } } })).auth.users, { alice: HASH });
  });

  test('a user whose hash is not bcrypt is refused, naming the user', async () => {
    for (const bad of ['$apr1$salt$0123456789abcdefghijkl', '{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=', 'secret', `${HASH}x`, HASH.replace('$2y$', '$2x$')]) {
      const p = await problemsOf({ auth: { mode: 'basic', users: { alice: bad } } });
      assert.ok(has(p, 'auth.users.alice', /bcrypt/), `${bad}:\n${p.join('\n')}`);
    }
    for (const good of [HASH, HASH.replace('$2y$', '$2a$'), HASH.replace('$2y$', '$2b$')]) {
      assert.equal((await loads({ auth: { mode: 'basic', users: { alice: good } } })).auth.users.alice, good);
    }
  });

  test('the reserved principals cannot be user names or group members', async () => {
    for (const name of ['anonymous', 'authenticated']) {
      const p = await problemsOf({ auth: { mode: 'basic', users: { [name]: HASH } } });
      assert.ok(has(p, `auth.users.${name}`), p.join('\n'));
      const q = await problemsOf({ auth: { mode: 'basic', users: { alice: HASH }, groups: { devs: ['alice', name] } } });
      assert.ok(has(q, 'auth.groups.devs.1', /reserved/), q.join('\n'));
    }
  });

  test('access rules: bad principals, actions and globs are refused; good ones load', async () => {
    const rule = (repository: string, grants: Record<string, string[]>) => ({ auth: { access: [{ repository, grants }] } });
    for (const principal of ['group:', 'group:bad name', 'bad name', 'ünïcode', '']) {
      const p = await problemsOf(rule('**', { [principal]: ['pull'] }));
      assert.ok(has(p, `auth.access.0.grants.${principal}`), `${JSON.stringify(principal)}:\n${p.join('\n')}`);
    }
    for (const action of ['write', 'read', 'PULL', '*']) {
      const p = await problemsOf(rule('**', { alice: [action] }));
      assert.ok(has(p, 'auth.access.0.grants.alice.0'), `${action}:\n${p.join('\n')}`);
    }
    for (const glob of ['Team/App', 'team/[ab]', 'team/app?', 'team app', '']) {
      const p = await problemsOf(rule(glob, { alice: ['pull'] }));
      assert.ok(has(p, 'auth.access.0.repository', /wildcards/), `${JSON.stringify(glob)}:\n${p.join('\n')}`);
    }
    const p = await problemsOf({ auth: { access: [{ repository: '**', grants: {}, extra: true }] } });
    assert.ok(has(p, 'auth.access.0.extra'), p.join('\n'));

    const ok = await loads({
      auth: {
        access: [
          { repository: 'public/**', grants: { anonymous: ['pull'], authenticated: ['pull', 'push'] } },
          { repository: 'team/*', grants: { 'group:devs': ['pull', 'push', 'delete'], alice: ['catalog'] } },
        ],
      },
    });
    assert.equal(ok.auth.access.length, 2);
    assert.deepEqual(ok.auth.access[1]!.grants['group:devs'], ['pull', 'push', 'delete']);
  });

  test('the default access rule: any authenticated caller may do everything', async () => {
    const c = await loadConfig({ env: {} });
    assert.deepEqual(c.auth.access, [{ repository: '**', grants: { authenticated: ['pull', 'push', 'delete', 'catalog'] } }]);
  });

  test('a group needs members', async () => {
    const p = await problemsOf({ auth: { groups: { devs: [] } } });
    assert.ok(has(p, 'auth.groups.devs', /members/), p.join('\n'));
  });

  test('http.bodyBudget below manifests.maxSize is refused: the largest manifests could never go in', async () => {
    const p = await problems({ env: { UNIREG_HTTP_BODY_BUDGET: '1048576' } });
    assert.ok(has(p, 'http.bodyBudget', /smaller than manifests.maxSize/), p.join('\n'));
    const ok = await loadConfig({ env: { UNIREG_HTTP_BODY_BUDGET: '1048576', UNIREG_MANIFESTS_MAX_SIZE: '1048576' } });
    assert.equal(ok.http.bodyBudget, 1048576);
  });

  test('http.tls with only a certificate or only a key is refused; both or neither load', async () => {
    const onlyCert = await problems({ env: { UNIREG_HTTP_TLS_CERTIFICATE: '/etc/unireg/cert.pem' } });
    assert.ok(has(onlyCert, 'http.tls', /both certificate and key/), onlyCert.join('\n'));
    const onlyKey = await problemsOf({ http: { tls: { key: '/etc/unireg/key.pem' } } });
    assert.ok(has(onlyKey, 'http.tls', /both certificate and key/), onlyKey.join('\n'));
    const both = await loadConfig({ env: { UNIREG_HTTP_TLS_CERTIFICATE: '/c.pem', UNIREG_HTTP_TLS_KEY: '/k.pem' } });
    assert.deepEqual(both.http.tls, { certificate: '/c.pem', key: '/k.pem' });
    assert.deepEqual((await loadConfig({ env: {} })).http.tls, { certificate: '', key: '' });
  });

  test('auth.token.jwks (an external issuer) needs auth.token.realm', async () => {
    const p = await problems({ env: { UNIREG_AUTH_MODE: 'token', UNIREG_AUTH_TOKEN_JWKS: '/etc/unireg/jwks.json' } });
    assert.ok(has(p, 'auth.token.realm', /auth\.token\.jwks/), p.join('\n'));
    const c = await loadConfig({
      env: { UNIREG_AUTH_MODE: 'token', UNIREG_AUTH_TOKEN_JWKS: '/etc/unireg/jwks.json', UNIREG_AUTH_TOKEN_REALM: 'https://auth.example.com/token' },
    });
    assert.equal(c.auth.token.realm, 'https://auth.example.com/token');
  });

  test('token settings come from the environment with their types', async () => {
    const c = await loadConfig({
      env: { UNIREG_AUTH_TOKEN_EXPIRY: '90', UNIREG_AUTH_TOKEN_REFRESH_EXPIRY: '7d', UNIREG_AUTH_FAILED_LOGINS_LIMIT: '3', UNIREG_AUTH_FAILED_LOGINS_WINDOW: '30s' },
    });
    assert.equal(durationMs(c.auth.token.expiry), 90_000);
    assert.equal(durationMs(c.auth.token.refreshExpiry), 7 * 86_400_000);
    assert.equal(c.auth.failedLogins.limit, 3);
    assert.equal(durationMs(c.auth.failedLogins.window), 30_000);
  });

  test('users, groups and access rules are file-only: their UNIREG_ variables are unknown', async () => {
    for (const name of ['UNIREG_AUTH_ACCESS', 'UNIREG_AUTH_USERS', 'UNIREG_AUTH_GROUPS', 'UNIREG_AUTH_USERS_ALICE']) {
      const p = await problems({ env: { [name]: 'x' } });
      assert.ok(has(p, 'unknown environment variable', new RegExp(`\\b${name}\\b`)), `${name}:\n${p.join('\n')}`);
      assert.ok(!ENV_SETTINGS.some((s) => s.env === name), name);
    }
    // ... while the scalar auth settings have theirs.
    for (const name of ['UNIREG_AUTH_MODE', 'UNIREG_AUTH_HTPASSWD', 'UNIREG_AUTH_TOKEN_JWKS', 'UNIREG_HTTP_TLS_KEY']) {
      assert.ok(ENV_SETTINGS.some((s) => s.env === name), name);
    }
  });
});

/** The repository root: three levels up from dist/test/unit, else the working directory. */
function repoRoot(): string {
  const fromUrl = fileURLToPath(new URL('../../../', import.meta.url));
  return existsSync(join(fromUrl, 'docs', 'auth.md')) ? fromUrl : process.cwd();
}

test('every yaml example in docs/auth.md is a valid configuration', async () => {
  const text = readFileSync(join(repoRoot(), 'docs', 'auth.md'), 'utf8');
  const blocks = [...text.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)].map((m) =>
    m[2]!
      .split('\n')
      .map((line) => line.slice(m[1]!.length))
      .join('\n'),
  );
  assert.ok(blocks.length >= 5, `found ${blocks.length} yaml blocks`);
  for (const block of blocks) {
    const tree: unknown = parseYaml(block);
    try {
      await loads(tree);
    } catch (err) {
      assert.fail(`docs/auth.md example does not load:\n${block}\n${(err as Error).message}`);
    }
  }
});
