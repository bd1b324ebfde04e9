/**
 * `unireg pack` and `unireg variants` as real processes (node dist/src/cli.js)
 * against a real listening unireg: packing, the variants table, one-line failures,
 * credentials on the wire, and the full round trip: build the multiboot kernel,
 * pack it with the CLI, pull it back with skopeo, unpack the kernel layer, check
 * it is byte-identical and boot it in QEMU.
 *
 * The round trip needs skopeo, binutils and qemu-system-x86_64: skipped with a
 * reason when they are missing, failed when CI=true.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readDirImage, readTar } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, gateFor, removeScratch, run, type RunResult } from '../helpers/tools.js';
import { HELLO_EXIT_STATUS, HELLO_GREETING, UNIKERNEL_TOOLS, bootKernel, buildHelloKernel } from '../helpers/unikernel-boot.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const bootGate = await gateFor([...UNIKERNEL_TOOLS, 'skopeo']);
const DIGEST = /^sha256:[0-9a-f]{64}$/;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `key: value` lines of the pack summary. */
function summary(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+):\s+(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** Asserts a failed run: non-zero exit, nothing on stdout, exactly one line on stderr matching `why`. */
function assertOneLineFailure(r: RunResult, why: RegExp, code?: number): void {
  const info = describeRun(r);
  assert.notEqual(r.code, 0, `non-zero exit\n${info}`);
  if (code !== undefined) assert.equal(r.code, code, `exit ${code}\n${info}`);
  assert.equal(r.stdout, '', `nothing on stdout\n${info}`);
  assert.ok(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, `exactly one line on stderr\n${info}`);
  assert.match(r.stderr.trimEnd(), why, info);
}

describe('unireg pack / unireg variants', { concurrency: false }, () => {
  let srv: TestServer;
  let work: string;
  let home: string;
  let kernel: string;
  let kernelBytes: Buffer;
  let initrd: string;
  let goodConfig: string;
  let badConfig: string;

  /** Runs the CLI (asynchronously: the registry serves from this process). HOME is an empty directory. */
  const unireg = (args: string[], opts: { input?: string; home?: string } = {}) =>
    run(process.execPath, [CLI, ...args], {
      allowFailure: true,
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: opts.home ?? home },
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  const ref = (repoTag: string) => `${srv.host}/${repoTag}`;
  const headIndex = async (repo: string, tag: string) => {
    const res = await fetch(`http://${srv.host}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    return res.status === 200 ? res.headers.get('docker-content-digest') : undefined;
  };

  before(async () => {
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'unireg-cli-pack-'));
    home = join(work, 'home');
    await mkdir(home);
    kernel = join(work, 'kernel.bin');
    kernelBytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(kernel, kernelBytes);
    initrd = join(work, 'initrd.cpio');
    await writeFile(initrd, randomBytes(4000));
    goodConfig = join(work, 'good.config');
    await writeFile(goodConfig, '# built for tests\nCONFIG_UK_FULLVERSION="0.17.0~abc"\nCONFIG_HZ=100\nCONFIG_LIBVFSCORE=y\n');
    badConfig = join(work, 'bad.config');
    await writeFile(badConfig, 'CONFIG_HZ=100\nthis is not kconfig\n');
  });

  after(async () => {
    await srv?.destroy();
    await removeScratch(work);
  });

  test('pack prints the digests; the tag resolves to the printed index and the layer holds the kernel', async () => {
    const r = await unireg([
      'pack', '--kernel', kernel, '--kconfig', goodConfig, '--arch', 'amd64', '--plat', 'kvm',
      '--cmd', '-v', '--cmd', '--port=8080', '--env', 'A=1', '--label', 'team=os', ref('cli/app:v1'),
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, '', 'no progress output when stderr is not a terminal');
    const s = summary(r.stdout);
    assert.match(r.stdout, new RegExp(`^packed ${srv.host}/cli/app:v1 \\(strategy merge\\)\n`));
    for (const key of ['index', 'manifest', 'config']) assert.match(s[key] ?? '', DIGEST, key);
    assert.equal(s.platform, 'x86_64/qemu, version 0.17.0~abc, 6 features', 'aliases normalised, features from the .config');
    const layer = /^(sha256:[0-9a-f]{64})  kernel, (\d+) bytes$/.exec(s.layers ?? '');
    assert.ok(layer, s.layers);
    assert.equal(await headIndex('cli/app', 'v1'), s.index);
    const blob = await fetch(`http://${srv.host}/v2/cli/app/blobs/${layer[1]}`);
    const tar = Buffer.from(await blob.arrayBuffer());
    assert.equal(tar.length, Number(layer[2]));
    const [entry, ...rest] = readTar(tar);
    assert.equal(rest.length, 0);
    assert.equal(entry?.path, 'unikraft/bin/kernel');
    assert.ok(entry.content.equals(kernelBytes), 'the kernel went up byte for byte');
  });

  test('--json prints the registry answer (with an initrd, into the same tag)', async () => {
    const r = await unireg(['pack', '--json', '--kernel', kernel, '--initrd', initrd, '--arch', 'arm64', '--plat', 'fc', '--version', '1.2.3', ref('cli/app:v1')]);
    assert.equal(r.code, 0, describeRun(r));
    const j = JSON.parse(r.stdout) as {
      repository: string;
      tag: string;
      index: string;
      platform: { architecture: string; os: string; 'os.version': string };
      layers: Array<{ digest: string; annotations: Record<string, string> }>;
      strategy: string;
    };
    assert.equal(j.repository, 'cli/app');
    assert.equal(j.tag, 'v1');
    assert.deepEqual([j.platform.architecture, j.platform.os, j.platform['os.version']], ['arm64', 'fc', '1.2.3']);
    assert.equal(j.layers.length, 2);
    assert.equal(j.layers[1]?.annotations['org.unikraft.kernel.initrd'], '/unikraft/bin/initrd');
    assert.equal(j.strategy, 'merge');
    assert.equal(await headIndex('cli/app', 'v1'), j.index);
  });

  test('variants prints a table of every tag, filters, and --json', async () => {
    const latest = await unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'xen', ref('cli/app')]);
    assert.equal(latest.code, 0, describeRun(latest));

    const all = await unireg(['variants', ref('cli/app')]);
    assert.equal(all.code, 0, describeRun(all));
    assert.equal(all.stderr, '');
    const lines = all.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^TAG\s+ARCH\s+PLAT\s+VERSION\s+KERNEL\s+IMAGE\s+FEATURES\s+MANIFEST$/);
    const rows = lines.slice(1).map((l) => l.split(/\s{2,}/));
    assert.equal(rows.length, 3, all.stdout);
    const byPlat = new Map(rows.map((row) => [`${row[0]} ${row[1]}/${row[2]}`, row]));
    assert.deepEqual([...byPlat.keys()].sort(), ['latest x86_64/xen', 'v1 arm64/fc', 'v1 x86_64/qemu']);
    const qemu = byPlat.get('v1 x86_64/qemu')!;
    assert.equal(qemu[3], '0.17.0~abc');
    assert.match(qemu[4] ?? '', /^3\.0 MiB$/);
    assert.match(qemu[5] ?? '', /^3\.0 MiB$/);
    assert.equal(qemu[6], '6');
    assert.match(qemu[7] ?? '', /^sha256:[0-9a-f]{12}$/);

    const filtered = await unireg(['variants', ref('cli/app:v1'), '--arch', 'x86_64', '--kconfig', 'CONFIG_HZ', '--kconfig', 'CONFIG_PLAT_KVM=y']);
    assert.equal(filtered.code, 0, describeRun(filtered));
    const fl = filtered.stdout.trimEnd().split('\n');
    assert.equal(fl.length, 2, filtered.stdout);
    assert.match(fl[1] ?? '', /^v1\s+x86_64\s+qemu\s+.*\sCONFIG_HZ=100,CONFIG_PLAT_KVM=y\s+sha256:/);

    const json = await unireg(['variants', '--json', '--plat', 'fc', ref('cli/app')]);
    assert.equal(json.code, 0, describeRun(json));
    const direct = await (await fetch(`http://${srv.host}/v2/cli/app/_unikraft/variants?plat=fc`)).json();
    assert.deepEqual(JSON.parse(json.stdout), direct);

    const none = await unireg(['variants', '--plat', 'linuxu', ref('cli/app')]);
    assert.equal(none.code, 0, describeRun(none));
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^unireg: no variants in .*cli\/app match the filters\n$/);
  });

  test('failures exit non-zero with one line on stderr, and leave the tag as it was', async () => {
    const before = await headIndex('cli/app', 'v1');
    const k = ['--kernel', kernel];
    const cases: Array<[string[], RegExp, number?]> = [
      [['pack', ...k, '--kconfig', badConfig, '--arch', 'x86_64', '--plat', 'qemu', ref('cli/app:v1')],
        /^unireg: pack failed: 400 MANIFEST_INVALID: invalid unikernel kconfig: line 2: expected KEY=VALUE$/, 1],
      [['pack', '--kernel', join(work, 'missing.elf'), '--arch', 'x86_64', '--plat', 'qemu', ref('cli/app:v1')],
        /^unireg: pack failed: cannot read --kernel .*missing\.elf: no such file$/, 1],
      [['pack', ...k, '--plat', 'qemu', ref('cli/app:v1')], /^unireg: pack failed: missing --arch \(see unireg pack --help\)$/, 2],
      [['pack', '--arch', 'x86_64', '--plat', 'qemu', ref('cli/app:v1')], /^unireg: pack failed: missing --kernel/, 2],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu'], /^unireg: pack failed: missing HOST:PORT\/REPO\[:TAG\]/, 2],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', '--bogus', ref('cli/app')], /^unireg: pack failed: Unknown option '--bogus'/, 2],
      [['pack', ...k, '--arch', 'mips', '--plat', 'qemu', ref('cli/app:v1')], /^unireg: pack failed: 400 MANIFEST_INVALID: invalid unikernel arch: unknown architecture "mips"/, 1],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', '--strategy', 'abort', ref('cli/app:v1')], /^unireg: pack failed: 409 TAG_EXISTS: tag v1 already exists/, 1],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', '--strategy', 'sideways', ref('cli/app:v1')], /^unireg: pack failed: --strategy must be one of merge, overwrite, abort/, 2],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', '--env', 'NOVALUE', ref('cli/app:v1')], /--env "NOVALUE" must be KEY=VALUE/, 2],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', `${srv.host}/Cli/App`], /^unireg: pack failed: .*invalid repository name "Cli\/App"/, 2],
      [['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', '--user', 'u', ref('cli/app')], /^unireg: pack failed: --user needs --password or --password-stdin$/, 2],
      [['variants', ref('cli/nothing')], /^unireg: variants failed: 404 NAME_UNKNOWN: /, 1],
      [['variants', '--arch', 'mips', ref('cli/app')], /^unireg: variants failed: 400 MANIFEST_INVALID: invalid unikernel arch/, 1],
      [['variants', '--kconfig', 'bad key', ref('cli/app')], /^unireg: variants failed: 400 MANIFEST_INVALID: invalid unikernel filter/, 1],
    ];
    // Independent failures: run them side by side.
    const results = await Promise.all(cases.map(([args]) => unireg(args)));
    results.forEach((r, i) => assertOneLineFailure(r, cases[i]![1], cases[i]![2]));
    const port = await freePort();
    assertOneLineFailure(
      await unireg(['pack', ...k, '--arch', 'x86_64', '--plat', 'qemu', `127.0.0.1:${port}/cli/app`]),
      new RegExp(`^unireg: pack failed: cannot connect to http://127\\.0\\.0\\.1:${port}: connection refused$`),
      1,
    );
    assertOneLineFailure(await unireg(['variants', `127.0.0.1:${port}/cli/app`]), /^unireg: variants failed: cannot connect to .*connection refused$/, 1);
    assert.equal(await headIndex('cli/app', 'v1'), before, 'the failed packs changed nothing');
  });

  describe('credentials and paging, against a recording stand-in', () => {
    let fake: Server;
    let fakeHost: string;
    const seen: Array<{ url: string; headers: IncomingHttpHeaders; body: number }> = [];
    const password = 'pa:ss wörd-$ecret';
    let status = 201;

    before(async () => {
      fake = createHttpServer((req, res) => {
        let body = 0;
        req.on('data', (c: Buffer) => (body += c.length));
        req.on('end', () => {
          // The client first probes GET /v2/ to learn how to authenticate.
          if (req.url !== '/v2/') seen.push({ url: req.url ?? '', headers: req.headers, body });
          res.setHeader('Content-Type', 'application/json');
          if (req.url?.includes('/_unikraft/variants')) {
            const page2 = req.url.includes('last=');
            // Like unireg today, the Link drops the kconfig filter; the client must put it back.
            if (!page2) res.setHeader('Link', '</v2/x/_unikraft/variants?n=1&last=a>; rel="next"');
            res.end(JSON.stringify({ repository: 'x', variants: [{ tag: page2 ? 'b' : 'a', arch: 'x86_64', plat: 'qemu', features: ['CONFIG_HZ=100'], manifest: `sha256:${'0'.repeat(64)}` }] }));
            return;
          }
          res.statusCode = status;
          if (status === 401) res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
          else res.end(JSON.stringify({ repository: 'x', tag: 'latest', index: `sha256:${'1'.repeat(64)}`, layers: [] }));
        });
      });
      await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
      fakeHost = `127.0.0.1:${(fake.address() as { port: number }).port}`;
    });
    after(async () => {
      await new Promise((ok) => fake?.close(ok));
    });

    const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

    test('--user/--password, --password-stdin and ~/.docker/config.json become Basic auth, never printed', async () => {
      seen.length = 0;
      const pack = ['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu'];
      const a = await unireg([...pack, '--user', 'alice', '--password', password, `${fakeHost}/x`]);
      assert.equal(a.code, 0, describeRun(a));
      const b = await unireg([...pack, '--user', 'bob', '--password-stdin', `${fakeHost}/x`], { input: `${password}\n` });
      assert.equal(b.code, 0, describeRun(b));
      const dockerHome = join(work, 'docker-home');
      await mkdir(join(dockerHome, '.docker'), { recursive: true });
      await writeFile(join(dockerHome, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://${fakeHost}`]: { auth: Buffer.from(`carol:${password}`).toString('base64') } } }));
      const c = await unireg([...pack, `${fakeHost}/x`], { home: dockerHome });
      assert.equal(c.code, 0, describeRun(c));
      const d = await unireg(['variants', '--user', 'dave', '--password', password, `${fakeHost}/x`]);
      assert.equal(d.code, 0, describeRun(d));
      const none = await unireg([...pack, `${fakeHost}/x`]);
      assert.equal(none.code, 0, describeRun(none));
      assert.deepEqual(
        seen.map((s) => s.headers.authorization),
        [basic('alice', password), basic('bob', password), basic('carol', password), basic('dave', password), basic('dave', password), undefined],
      );
      for (const s of seen.filter((s) => s.url.endsWith('/pack'))) {
        assert.equal(Number(s.headers['content-length']), s.body, 'Content-Length matches the body sent');
        assert.ok(s.body > kernelBytes.length);
        assert.match(s.headers['content-type'] ?? '', /^multipart\/form-data; boundary=/);
      }
      for (const r of [a, b, c, d]) assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'password never printed');

      status = 401;
      try {
        const denied = await unireg([...pack, '--user', 'eve', '--password', password, `${fakeHost}/x`]);
        assertOneLineFailure(denied, /^unireg: pack failed: 401 UNAUTHORIZED: authentication required$/, 1);
        assert.ok(!denied.stderr.includes(password));
      } finally {
        status = 201;
      }
    });

    test('variants follows Link pages and keeps the kconfig filters', async () => {
      seen.length = 0;
      const r = await unireg(['variants', '--kconfig', 'CONFIG_HZ', `${fakeHost}/x`]);
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(seen.map((s) => s.url), ['/v2/x/_unikraft/variants?kconfig=CONFIG_HZ', '/v2/x/_unikraft/variants?n=1&last=a&kconfig=CONFIG_HZ']);
      assert.deepEqual(r.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0]), ['a', 'b']);
    });
  });

  test('round trip: build, pack with the CLI, pull with skopeo, unpack, byte-compare and boot in QEMU', { timeout: 180_000 }, async (t) => {
    if (!bootGate.check(t)) return;
    const built = await buildHelloKernel(join(work, 'hello'));
    const builtBytes = await readFile(built);
    // Another variant in the same tag, so the right one has to be picked from the index.
    const other = await unireg(['pack', '--kernel', kernel, '--arch', 'arm64', '--plat', 'qemu', ref('boot/hello:v1')]);
    assert.equal(other.code, 0, describeRun(other));
    const packed = await unireg(['pack', '--json', '--kernel', built, '--arch', 'x86_64', '--plat', 'qemu', '--cmd', 'hello', ref('boot/hello:v1')]);
    assert.equal(packed.code, 0, describeRun(packed));
    const result = JSON.parse(packed.stdout) as { index: string; manifest: string };

    const out = join(work, 'pulled');
    await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${ref('boot/hello:v1')}`, `dir:${out}`], { timeout: 90_000 });
    const pulled = await readDirImage(out);
    assert.equal(sha256(pulled.manifest), result.index, 'skopeo pulled the index the CLI printed');
    const index = JSON.parse(pulled.manifest.toString('utf8')) as {
      mediaType: string;
      manifests: Array<{ digest: string; platform?: { architecture?: string; os?: string } }>;
    };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests.length, 2);
    const wanted = index.manifests.filter((m) => m.platform?.architecture === 'x86_64' && m.platform.os === 'qemu');
    assert.equal(wanted.length, 1, JSON.stringify(index.manifests));
    assert.equal(wanted[0]!.digest, result.manifest);
    const manifestBytes = pulled.instances.get(result.manifest);
    assert.ok(manifestBytes, `skopeo pulled manifest ${result.manifest}`);
    assert.equal(sha256(manifestBytes), result.manifest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as { layers: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }> };
    const layer = manifest.layers.find((l) => l.annotations?.['org.unikraft.kernel.image'] === '/unikraft/bin/kernel');
    assert.ok(layer, 'a kernel layer');
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    const tar = pulled.blobs.get(layer.digest);
    assert.ok(tar, `skopeo pulled layer ${layer.digest}`);
    assert.equal(sha256(tar), layer.digest);
    const entries = readTar(tar);
    assert.deepEqual(entries.map((e) => [e.path, e.type, e.mode]), [['unikraft/bin/kernel', '0', 0o755]]);
    const kernelOut = entries[0]!.content;
    assert.ok(kernelOut.equals(builtBytes), `unpacked kernel is byte-identical (${kernelOut.length} vs ${builtBytes.length} bytes)`);

    const unpacked = join(work, 'unpacked.elf');
    await writeFile(unpacked, kernelOut);
    const boot = await bootKernel(unpacked, { timeoutMs: 30_000 });
    const why = `$ ${boot.command.join(' ')}\nexit ${boot.exitCode} signal ${boot.signal} timedOut ${boot.timedOut}\nserial ${JSON.stringify(boot.serial)}\n${boot.stderr}`;
    t.diagnostic(`booted in ${boot.ms} ms; serial: ${JSON.stringify(boot.serial)}`);
    assert.equal(boot.timedOut, false, why);
    assert.ok(boot.serial.includes(HELLO_GREETING), why);
    assert.equal(boot.exitCode, HELLO_EXIT_STATUS, why);
  });
});
