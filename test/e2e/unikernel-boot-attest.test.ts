/**
 * Boot attestations with real QEMU (unikernel.bootCheck): the committed
 * multiboot kernels (test/fixtures/multiboot) are packed through the HTTP API;
 * unireg queues each variant, boots it and attaches the result as a referrer.
 *
 *   hello   prints and exits through isa-debug-exit  → passed (exit 33, regex matched)
 *   spin    prints and loops forever                 → timed-out (killed after the timeout)
 *   triple  prints and triple-faults                  → failed (QEMU's log says so)
 *   flood   prints without end                        → timed-out, the console capped at its first KiB
 *   bytes that are no kernel at all (QEMU refuses)    → failed, with QEMU's message
 *
 * Then: a restart with three queued boots finishes all three; the variants API
 * and `unireg variants` show the status; and a copy with skopeo keeps the
 * referrers only when they are copied too (skopeo copies no referrers itself).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { runCli } from '../helpers/cli.js';
import { packOk } from '../helpers/kraft.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';
import { buildKernel, HELLO_GREETING, UNIKERNEL_TOOLS } from '../helpers/unikernel-boot.js';

const ATTESTATION = 'application/vnd.unireg.boot-attestation.v1+json';
const gate = await gateFor([...UNIKERNEL_TOOLS, 'setpriv', 'skopeo']);
const TIMEOUT = { timeout: 240_000 };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface Attestation {
  status: string;
  reason?: string;
  subject: { repository: string; manifest: string; platform: { architecture: string; os: string }; kernel: string };
  exitStatus: number | null;
  signal: string | null;
  tripleFault: boolean;
  bootTimeMs: number;
  startedAt: string;
  console: { text: string; bytes: number; truncated: boolean };
  expectedOutput: { regex: string; matched: boolean | null } | null;
  qemu: { version: string; command: string[]; stderr: string };
  limits: { timeoutMs: number; memoryMiB: number; network: string; user: string | null; exitCodes: number[] };
  unireg: { version: string };
}

async function referrers(base: string, repo: string, digest: string): Promise<Descriptor[]> {
  const res = await fetch(`${base}/v2/${repo}/referrers/${digest}?artifactType=${encodeURIComponent(ATTESTATION)}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { manifests: Descriptor[] }).manifests;
}

/** Waits (no time assertion: the test's own timeout bounds it) until the manifest has `count` attestations. */
async function waitForAttestations(base: string, repo: string, digest: string, count = 1): Promise<Descriptor[]> {
  for (;;) {
    const found = await referrers(base, repo, digest);
    if (found.length >= count) return found;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The attestation manifest (checked field by field) and its JSON document. */
async function readAttestation(base: string, repo: string, subject: string, d: Descriptor): Promise<Attestation> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${d.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(digestOf(bytes), d.digest);
  const manifest = JSON.parse(bytes.toString()) as {
    artifactType: string;
    config: Descriptor;
    layers: Descriptor[];
    subject: Descriptor;
    annotations: Record<string, string>;
  };
  assert.deepEqual(Object.keys(manifest), ['schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'subject', 'annotations']);
  assert.equal(manifest.artifactType, ATTESTATION);
  assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 });
  assert.equal(manifest.subject.digest, subject);
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0]!.mediaType, ATTESTATION);
  const blob = Buffer.from(await (await fetch(`${base}/v2/${repo}/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer());
  assert.equal(digestOf(blob), manifest.layers[0]!.digest);
  const doc = JSON.parse(blob.toString()) as Attestation;
  assert.equal(manifest.annotations['org.unireg.boot.status'], doc.status, 'the status annotation (listed by the referrers API) is the document status');
  assert.equal(d.annotations?.['org.unireg.boot.status'], doc.status);
  return doc;
}

describe('boot attestations in real QEMU', { concurrency: false }, () => {
  let work: string;
  let root: string;
  let srv: TestServer | undefined;
  let kernels: Record<'hello' | 'spin' | 'triple' | 'flood', Buffer>;
  let qemuVersion: string;
  const asRoot = process.getuid?.() === 0;

  const bootCheck = (timeout: string) => ({
    enabled: true,
    timeout,
    memory: 32,
    repositories: [
      { repository: 'boot/hello', expectedOutput: '^Hello from a unireg' },
      { repository: 'copies/**', enabled: false },
    ],
  });

  before(async () => {
    if (gate.blocked) return;
    work = await mkdtemp(join(tmpdir(), 'unireg-boot-attest-'));
    root = join(work, 'root');
    kernels = {
      hello: await readFile(await buildKernel(join(work, 'k'), 'hello')),
      spin: await readFile(await buildKernel(join(work, 'k'), 'spin')),
      triple: await readFile(await buildKernel(join(work, 'k'), 'triple')),
      flood: await readFile(await buildKernel(join(work, 'k'), 'flood')),
    };
    qemuVersion = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n')[0]!.trim();
    srv = await startTestServer({ unikernel: { bootCheck: bootCheck('4s') } }, root);
  });
  after(async () => {
    await srv?.close();
    await removeScratch(work);
  });

  test('a kernel that prints and exits passes; the document says how it ran', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const packed = await packOk(base, 'boot/hello', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.hello, cmd: ['console=ttyS0'] });
    const [d] = await waitForAttestations(base, 'boot/hello', packed.manifest);
    const doc = await readAttestation(base, 'boot/hello', packed.manifest, d!);
    t.diagnostic(`passed in ${doc.bootTimeMs} ms: ${JSON.stringify(doc.console.text)}`);
    assert.equal(doc.status, 'passed', JSON.stringify(doc));
    assert.equal(doc.reason, undefined);
    assert.deepEqual(doc.subject, {
      repository: 'boot/hello',
      manifest: packed.manifest,
      platform: { architecture: 'x86_64', os: 'qemu' },
      kernel: packed.layers[0]!.digest,
    });
    assert.equal(doc.exitStatus, 33);
    assert.equal(doc.signal, null);
    assert.equal(doc.tripleFault, false);
    assert.deepEqual(doc.console, { text: `${HELLO_GREETING}\n`, bytes: HELLO_GREETING.length + 1, truncated: false });
    assert.deepEqual(doc.expectedOutput, { regex: '^Hello from a unireg', matched: true });
    assert.equal(doc.qemu.version, qemuVersion);
    const cmd = doc.qemu.command;
    const qemuAt = cmd.indexOf('qemu-system-x86_64');
    assert.ok(qemuAt >= 0);
    assert.deepEqual(cmd.slice(qemuAt + 1, qemuAt + 10), ['-nodefaults', '-no-user-config', '-accel', 'tcg', '-m', '32', '-nic', 'none', '-no-reboot']);
    assert.deepEqual(cmd.slice(-2), ['-append', 'console=ttyS0'], 'the config Cmd is the kernel command line');
    if (asRoot) {
      assert.equal(cmd[0], 'setpriv', 'as root, QEMU is started through setpriv');
      const nobody = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('nobody:'))!.split(':');
      assert.deepEqual(cmd.slice(1, qemuAt), [`--reuid=${nobody[2]}`, `--regid=${nobody[3]}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs', '--']);
      assert.equal(doc.limits.user, 'nobody');
    } else {
      assert.equal(qemuAt, 0);
      assert.equal(doc.limits.user, null);
    }
    assert.deepEqual(doc.limits, { timeoutMs: 4000, memoryMiB: 32, network: 'none', user: asRoot ? 'nobody' : null, exitCodes: [0, 33] });
    assert.equal(doc.unireg.version, JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version);
  });

  test('a kernel that spins forever times out, killed after the timeout, and ran as the unprivileged user', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const packed = await packOk(base, 'boot/spin', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.spin });
    // While it spins: the QEMU process booting it runs as nobody (when unireg is root), with no NIC.
    let seen: { uid: string; cmdline: string[] } | undefined;
    while (seen === undefined && (await referrers(base, 'boot/spin', packed.manifest)).length === 0) {
      for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((c) => c.split('\0'), () => []);
        if (cmdline[0] !== 'qemu-system-x86_64' || !cmdline.some((a) => a.includes('unireg-boot-'))) continue;
        const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
        const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
        if (uid !== undefined) seen = { uid, cmdline };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const [d] = await waitForAttestations(base, 'boot/spin', packed.manifest);
    const doc = await readAttestation(base, 'boot/spin', packed.manifest, d!);
    t.diagnostic(`timed out after ${doc.bootTimeMs} ms; the process: ${JSON.stringify(seen)}`);
    assert.equal(doc.status, 'timed-out', JSON.stringify(doc));
    assert.equal(doc.exitStatus, null);
    assert.equal(doc.signal, 'SIGKILL');
    assert.ok(doc.bootTimeMs >= 4000, 'killed only once the timeout had passed');
    assert.equal(doc.console.text, 'spinning forever\n');
    assert.equal(doc.expectedOutput, null);
    assert.ok(seen, 'the spinning QEMU was found in /proc');
    assert.ok(seen.cmdline.includes('-nic') && seen.cmdline[seen.cmdline.indexOf('-nic') + 1] === 'none');
    if (asRoot) {
      const nobodyUid = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('nobody:'))!.split(':')[2];
      assert.equal(seen.uid, nobodyUid, 'QEMU ran as nobody, not as root');
    }
  });

  test('a kernel that triple-faults fails, and says why', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const packed = await packOk(base, 'boot/triple', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.triple });
    const [d] = await waitForAttestations(base, 'boot/triple', packed.manifest);
    const doc = await readAttestation(base, 'boot/triple', packed.manifest, d!);
    assert.equal(doc.status, 'failed', JSON.stringify(doc));
    assert.equal(doc.reason, 'the guest triple-faulted (CPU reset)');
    assert.equal(doc.tripleFault, true);
    assert.equal(doc.exitStatus, 0, 'QEMU itself exits 0 (-no-reboot): only its log tells a triple fault from a power-off');
    assert.equal(doc.console.text, 'about to triple-fault\n');
  });

  test('a kernel that floods the console is cut off at the timeout, the first KiB kept and the rest counted', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const packed = await packOk(base, 'boot/flood', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.flood });
    const [d] = await waitForAttestations(base, 'boot/flood', packed.manifest);
    const doc = await readAttestation(base, 'boot/flood', packed.manifest, d!);
    t.diagnostic(`${doc.console.bytes} console bytes in ${doc.bootTimeMs} ms`);
    assert.equal(doc.status, 'timed-out');
    assert.equal(doc.console.truncated, true);
    assert.ok(doc.console.bytes > 1024, 'more than the kept KiB was written');
    assert.equal(doc.console.text, 'flood '.repeat(171).slice(0, 1024), 'exactly the first KiB is kept');
  });

  test('bytes QEMU cannot load as a kernel fail, with QEMU\'s own message', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const packed = await packOk(base, 'boot/junk', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: Buffer.from('not a kernel at all\n'.repeat(64)) });
    const [d] = await waitForAttestations(base, 'boot/junk', packed.manifest);
    const doc = await readAttestation(base, 'boot/junk', packed.manifest, d!);
    t.diagnostic(JSON.stringify(doc.qemu.stderr));
    assert.equal(doc.status, 'failed');
    assert.equal(doc.exitStatus, 1);
    assert.equal(doc.reason, 'QEMU exited with status 1 (accepted: 0, 33)');
    assert.match(doc.qemu.stderr, /kernel/i, 'QEMU says what it could not do');
    assert.equal(doc.console.bytes, 0);
  });

  test('a variant of a platform unireg cannot emulate, or of a repository switched off, is not booted', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const xen = await packOk(base, 'boot/xen', { tag: 'v1', arch: 'x86_64', plat: 'xen', kernel: kernels.hello });
    const off = await packOk(base, 'copies/off', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.hello });
    // A variant queued after both is booted: had either been queued, it would have been booted first (one queue, in order).
    const marker = await packOk(base, 'boot/marker', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.hello });
    await waitForAttestations(base, 'boot/marker', marker.manifest);
    assert.deepEqual(await referrers(base, 'boot/xen', xen.manifest), []);
    assert.deepEqual(await referrers(base, 'copies/off', off.manifest), []);
  });

  test('the variants API and `unireg variants` show each variant\'s latest boot', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const res = await fetch(`${base}/v2/boot/hello/_unikraft/variants`);
    const body = (await res.json()) as { variants: { manifest: string; boot?: { status: string; attestation: string; created: string }; provenance?: string }[] };
    const [v] = body.variants;
    const [d] = await referrers(base, 'boot/hello', v!.manifest);
    // A re-push of the same manifest bytes is not booted again (checked below, after the queue has moved on).
    const bytes = await (await fetch(`${base}/v2/boot/hello/manifests/${v!.manifest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer();
    const again = await fetch(`${base}/v2/boot/hello/manifests/${v!.manifest}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: Buffer.from(bytes),
    });
    assert.equal(again.status, 201);
    const marker = await packOk(base, 'boot/marker2', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels.hello });
    await waitForAttestations(base, 'boot/marker2', marker.manifest);
    assert.equal((await referrers(base, 'boot/hello', v!.manifest)).length, 1, 'still one attestation');
    assert.deepEqual(v!.boot, { status: 'passed', attestation: d!.digest, created: d!.annotations!['org.opencontainers.image.created'] });
    const cli = await runCli(['variants', `${srv!.host}/boot/hello`]);
    assert.equal(cli.code, 0, cli.stderr);
    const [header, row] = cli.stdout.split('\n');
    assert.match(header!, /FEATURES +BOOT +MANIFEST$/);
    assert.match(row!, / passed +sha256:[0-9a-f]{12}$/);
  });

  test('a restart with three queued boots finishes all three', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    // A long timeout: the spinning kernel holds the one boot slot while two more are queued behind it.
    await srv!.close();
    srv = await startTestServer({ unikernel: { bootCheck: bootCheck('10m') } }, root);
    const base = srv.url;
    const spin = await packOk(base, 'boot/queue', { tag: 'spin', arch: 'x86_64', plat: 'qemu', kernel: kernels.spin });
    const a = await packOk(base, 'boot/queue', { tag: 'a', arch: 'x86_64', plat: 'qemu', kernel: kernels.hello });
    const b = await packOk(base, 'boot/queue', { tag: 'b', arch: 'x86_64', plat: 'qemu', kernel: kernels.triple });
    let mark = Date.now();
    await srv.close(); // kills the spinning boot: no verdict, it stays queued
    t.diagnostic(`closed in ${Date.now() - mark} ms`);
    mark = Date.now();
    srv = undefined;

    // What the store holds between the two runs: the three jobs, in push order, the first started once.
    const kv = new LevelKv(new Layout(root).metaDir, pino({ level: 'silent' }));
    const meta = new KvMetadataStore(kv);
    await meta.open();
    const queued = await meta.listBootJobs({ limit: 100 });
    await meta.close();
    assert.deepEqual(
      queued.map((j) => [j.repo, j.manifest, j.attempts]),
      [
        ['boot/queue', spin.manifest, 1],
        ['boot/queue', a.manifest, 0],
        ['boot/queue', b.manifest, 0],
      ],
    );
    assert.equal((await fetchReferrersOffline(root, spin.manifest)).length, 0, 'no attestation was written for the killed boot');

    srv = await startTestServer({ unikernel: { bootCheck: bootCheck('3s') } }, root);
    const statuses = [];
    for (const m of [spin.manifest, a.manifest, b.manifest]) {
      const [d] = await waitForAttestations(srv.url, 'boot/queue', m);
      statuses.push((await readAttestation(srv.url, 'boot/queue', m, d!)).status);
    }
    t.diagnostic(`three boots after the restart in ${Date.now() - mark} ms`);
    assert.deepEqual(statuses, ['timed-out', 'passed', 'failed']);
    await srv.close();
    srv = undefined;
    const store = new KvMetadataStore(new LevelKv(new Layout(root).metaDir, pino({ level: 'silent' })));
    await store.open();
    assert.deepEqual(await store.listBootJobs({ limit: 100 }), [], 'the queue is empty once all three are done');
    await store.close();
    srv = await startTestServer({ unikernel: { bootCheck: bootCheck('3s') } }, root);
  });

  test('skopeo copy --all copies the variant but not its referrers; copying the referrer too keeps the attestation', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv!.url;
    const host = srv!.host;
    const [v] = ((await (await fetch(`${base}/v2/boot/hello/_unikraft/variants`)).json()) as { variants: { manifest: string }[] }).variants;
    const [att] = await referrers(base, 'boot/hello', v!.manifest);
    const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], { timeout: 60_000 });
    const flags = ['--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false'];
    const copied = await skopeo('copy', ...flags, `docker://${host}/boot/hello:v1`, `docker://${host}/copies/hello:v1`);
    assert.equal(copied.code, 0, copied.stderr);
    const index = await fetch(`${base}/v2/copies/hello/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(index.status, 200);
    // skopeo (containers/image) has no referrers support: the copy has the variant, not its attestation.
    assert.deepEqual(await referrers(base, 'copies/hello', v!.manifest), [], 'skopeo copied no referrer');
    // The second copy: the attestation manifest by digest (what `oras cp -r` automates), found through the referrers API.
    const second = await skopeo('copy', ...flags, `docker://${host}/boot/hello@${att!.digest}`, `docker://${host}/copies/hello:attestation`);
    assert.equal(second.code, 0, second.stderr);
    const after = await referrers(base, 'copies/hello', v!.manifest);
    assert.deepEqual(after, [att], 'the copy lists the same attestation, byte for byte the same manifest');
    const doc = await readAttestation(base, 'copies/hello', v!.manifest, after[0]!);
    assert.equal(doc.status, 'passed');
  });
});

/** The referrer records of a manifest in the store at `root`, read while no server runs. */
async function fetchReferrersOffline(root: string, subject: string): Promise<unknown[]> {
  const store = new KvMetadataStore(new LevelKv(new Layout(root).metaDir, pino({ level: 'silent' })));
  await store.open();
  try {
    return (await store.listReferrers('boot/queue', subject as Digest, { limit: 100 })).filter((d) => d.artifactType === ATTESTATION);
  } finally {
    await store.close();
  }
}
