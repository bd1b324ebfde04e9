/**
 * `unireg search` and `unireg diff` against a running registry: the table, the
 * JSON, the exit codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { bytesOf, dotConfig, packOk, type PackResult } from '../helpers/kraft.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('unireg search and diff', () => {
  let srv: TestServer;
  let host: string;
  let v1: PackResult;
  let v2: PackResult;

  before(async () => {
    srv = await startTestServer();
    host = new URL(srv.url).host;
    v1 = await packOk(srv.url, 'cli/app', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('one', 1000), kconfig: dotConfig(['CONFIG_HZ=100', 'CONFIG_A=y']) });
    v2 = await packOk(srv.url, 'cli/app', { tag: 'v2', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('two', 3000), kconfig: dotConfig(['CONFIG_HZ=1000', 'CONFIG_B=y']) });
  });
  after(() => srv.destroy());

  test('search prints a table of the matching variants, --json the answer; nothing found exits 1', async () => {
    const table = await runCli(['search', host, '--kconfig', 'CONFIG_HZ=100', '--match', 'exact']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY:TAG +ARCH +PLAT +KERNEL +MATCHED +MANIFEST$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, new RegExp(`^cli/app:v1 +x86_64 +qemu +2\\.5 KiB +CONFIG_HZ=100 +${v1.manifest.slice(0, 19)}$`));
    const kraft = await runCli(['search', host, '--kconfig', 'CONFIG_HZ=100', '--json']);
    const body = JSON.parse(kraft.stdout) as { match: string; results: { tag: string; manifest: string }[] };
    assert.equal(body.match, 'kraft');
    assert.deepEqual(body.results.map((r) => r.manifest), [v1.manifest, v2.manifest]);
    const none = await runCli(['search', host, '--kconfig', 'CONFIG_NOPE']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no variant in .* matches/);
    const bad = await runCli(['search', host, '--kconfig', 'CONFIG X']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /search failed: .*MANIFEST_INVALID/);
  });

  test('diff prints the feature changes and the sizes', async () => {
    const res = await runCli(['diff', `${host}/cli/app`, 'v1', 'v2']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^from v1 \(x86_64\/qemu 0\.18\.0~a1b2c3, sha256:[0-9a-f]{12}\)\nto {3}v2 /);
    assert.match(res.stdout, /\n\+ CONFIG_B=y\n- CONFIG_A=y\n~ CONFIG_HZ: 100 -> 1000\n/);
    assert.match(res.stdout, /\nkernel +2\.5 KiB -> +4\.5 KiB +\(\+2\.0 KiB\)\n/);
    const json = JSON.parse((await runCli(['diff', `${host}/cli/app`, 'v1', v2.manifest, '--json'])).stdout) as { to: { manifest: string } };
    assert.equal(json.to.manifest, v2.manifest);
    const usage = await runCli(['diff', `${host}/cli/app`, 'v1']);
    assert.equal(usage.code, 2);
  });
});
