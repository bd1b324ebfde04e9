/**
 * Hostile unikernel content: JSON nested too deep, fields of the wrong type in
 * platforms, labels and config blobs, content stored by an older unireg that did
 * not check them, and storage that fails. Never a 500 for bad input; a storage
 * failure is never passed off as "no config" or "no size".
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { MAX_JSON_DEPTH } from '../../src/oci/json-scan.js';
import { KMT, bytesOf, inspect, pack, packJson, packOk, putTag, type PackResult } from '../helpers/kraft.js';
import { expectError, pushBlob, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** `{"x": [[[ … ]]]}` with the array `levels` deep (the object adds one level). */
function nested(levels: number): string {
  return `${'['.repeat(levels)}${']'.repeat(levels)}`;
}

interface Listing {
  repository: string;
  variants: { tag: string; manifest: string; arch: string; cmd: string[] }[];
  skipped?: { tag: string; manifest?: string; reason: string }[];
}

describe('bad unikernel input', () => {
  let srv: TestServer;
  let base: string;
  const repo = repoName('uk/bad');
  let A: PackResult;
  let v1Bytes: Buffer;

  before(async () => {
    srv = await startTestServer();
    base = srv.url;
    A = await packOk(base, repo, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('A', 3000) });
    v1Bytes = (await inspect(base, repo, 'v1')).bytes;
  });
  after(() => srv.destroy());

  /** The v1 index with `edit` applied to its only descriptor, as bytes. */
  function editedIndex(edit: (d: Record<string, unknown>) => void, raw?: (json: string) => string): Buffer {
    const index = JSON.parse(v1Bytes.toString()) as { manifests: Record<string, unknown>[] };
    edit(index.manifests[0]!);
    const json = JSON.stringify(index);
    return Buffer.from(raw ? raw(json) : json);
  }

  /** Writes a manifest and tag straight into the metadata store, as an older unireg that checked less would have. */
  async function storeUnchecked(target: string, tag: string, bytes: Buffer): Promise<Digest> {
    const digest = digestOf(bytes);
    await srv.registry.deps.meta.putManifest(target, { record: { digest, mediaType: KMT.index, bytes }, tag });
    srv.registry.deps.cache.invalidate(target, { tags: [tag] });
    return digest;
  }

  async function listing(target: string, query = ''): Promise<Listing> {
    const res = await fetch(`${base}/v2/${target}/_unikraft/variants${query}`);
    const text = await res.text();
    assert.equal(res.status, 200, `variants of ${target}: ${text}`);
    return JSON.parse(text) as Listing;
  }

  test(`JSON nested deeper than ${MAX_JSON_DEPTH} levels: 400 MANIFEST_INVALID naming the limit`, async () => {
    const deep = editedIndex((d) => (d.x = 0), (json) => json.replace('"x":0', `"x":${nested(20_000)}`));
    const res = await putTag(base, repo, 'deep', deep);
    const text = await res.clone().text();
    await expectError(res, 400, 'MANIFEST_INVALID');
    assert.match(text, new RegExp(`${MAX_JSON_DEPTH}`), 'the error names the limit');
    await expectError(await fetch(`${base}/v2/${repo}/manifests/deep?arch=x86_64`), 404, 'MANIFEST_UNKNOWN');
    // Also an image manifest, by digest, and strings full of brackets are not nesting.
    const manifest = Buffer.from(`{"schemaVersion":2,"x":${nested(5000)}}`);
    await expectError(await putTag(base, repo, sha256(manifest), manifest, KMT.manifest), 400, 'MANIFEST_INVALID');
    const brackets = editedIndex((d) => (d.annotations = { ...(d.annotations as object), note: '[[[[{{{{'.repeat(5000) }));
    assert.equal((await putTag(base, repo, 'brackets', brackets)).status, 201);
  });

  test('JSON exactly at the depth limit is accepted, filtered and merged', async () => {
    // index (1) > manifests (2) > descriptor (3) > x (4..limit)
    const atLimit = editedIndex((d) => (d.x = 0), (json) => json.replace('"x":0', `"x":${nested(MAX_JSON_DEPTH - 3)}`));
    assert.equal((await putTag(base, repo, 'limit', atLimit)).status, 201);
    const filtered = await fetch(`${base}/v2/${repo}/manifests/limit?arch=x86_64`);
    assert.equal(filtered.status, 200, await filtered.clone().text());
    const one = editedIndex((d) => (d.x = 0), (json) => json.replace('"x":0', `"x":${nested(MAX_JSON_DEPTH - 2)}`));
    await expectError(await putTag(base, repo, 'limit', one), 400, 'MANIFEST_INVALID');
    const merged = await pack(base, repo, { tag: 'limit', arch: 'arm64', plat: 'qemu', kernel: bytesOf('L', 3000) });
    assert.equal(merged.status, 201, await merged.clone().text());
    assert.equal((await inspect(base, repo, 'limit')).index.manifests.length, 2);
  });

  test('a deep index stored before the limit existed: filtered GET serves its bytes, merges refuse clearly, listing works', async () => {
    const target = repoName('uk/legacy-deep');
    const B = await packOk(base, target, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('B', 3000) });
    const stored = Buffer.from(
      (await inspect(base, target, 'v1')).bytes.toString().replace('"mediaType":', `"x":${nested(20_000)},"mediaType":`),
    );
    await storeUnchecked(target, 'deep', stored);
    const filtered = await fetch(`${base}/v2/${target}/manifests/deep?arch=x86_64`);
    const bytes = Buffer.from(await filtered.arrayBuffer());
    assert.equal(filtered.status, 200, bytes.toString().slice(0, 300));
    assert.equal(filtered.headers.get('docker-content-digest'), sha256(bytes));
    assert.ok(bytes.equals(stored), 'every variant matches: the stored bytes, exactly');
    await expectError(await fetch(`${base}/v2/${target}/manifests/deep?arch=arm64`), 404, 'MANIFEST_UNKNOWN');
    const merge = await pack(base, target, { tag: 'deep', arch: 'arm64', plat: 'qemu', kernel: bytesOf('C', 3000) });
    const text = await merge.clone().text();
    await expectError(merge, 400, 'MANIFEST_INVALID');
    assert.match(text, new RegExp(`${MAX_JSON_DEPTH}`));
    const variants = await listing(target);
    assert.deepEqual(variants.variants.map((v) => v.manifest).sort(), [B.manifest, B.manifest].sort());
  });

  test('platform fields of the wrong type: 400 MANIFEST_INVALID where they enter', async () => {
    const bad: [string, (d: Record<string, unknown>) => void][] = [
      ['architecture object', (d) => (d.platform = { architecture: { toString: 1 }, os: 'qemu' })],
      ['os number', (d) => (d.platform = { architecture: 'x86_64', os: 7 })],
      ['os.version array', (d) => (d.platform = { architecture: 'x86_64', os: 'qemu', 'os.version': ['1'] })],
      ['os.features string', (d) => (d.platform = { architecture: 'x86_64', os: 'qemu', 'os.features': 'CONFIG_HZ=100' })],
      ['os.features of objects', (d) => (d.platform = { architecture: 'x86_64', os: 'qemu', 'os.features': [{}] })],
      ['variant null', (d) => (d.platform = { architecture: 'x86_64', os: 'qemu', variant: null })],
      ['platform array', (d) => (d.platform = ['x86_64'])],
      ['annotation object', (d) => (d.annotations = { a: { toString: 1 } })],
      ['size string', (d) => (d.size = '12')],
      ['mediaType number', (d) => (d.mediaType = 1)],
      ['digest object', (d) => (d.digest = { toString: 1 })],
    ];
    for (const [what, edit] of bad) {
      const res = await putTag(base, repo, 'typed', editedIndex(edit));
      const text = await res.clone().text();
      await expectError(res, 400, 'MANIFEST_INVALID');
      assert.match(text, /manifests\[0\]/, `${what}: the error names the descriptor`);
    }
    // The same in an image manifest's config descriptor (where kraft puts the platform).
    const manifest = JSON.parse((await inspect(base, repo, 'v1')).variants[0]!.manifestBytes.toString()) as {
      config: Record<string, unknown>;
    };
    manifest.config.platform = { architecture: { toString: 1 }, os: 'qemu' };
    const bytes = Buffer.from(JSON.stringify(manifest));
    await expectError(await putTag(base, repo, sha256(bytes), bytes, KMT.manifest), 400, 'MANIFEST_INVALID');
    await expectError(await fetch(`${base}/v2/${repo}/manifests/typed`), 404, 'MANIFEST_UNKNOWN');
  });

  test('a malformed variant stored before the checks is reported, and the rest of the repository is listed', async () => {
    const target = repoName('uk/legacy-typed');
    const good = await packOk(base, target, { tag: 'good', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('G', 3000) });
    const bad = await packOk(base, target, { tag: 'bad', arch: 'arm64', plat: 'qemu', kernel: bytesOf('H', 3000) });
    const index = JSON.parse((await inspect(base, target, 'bad')).bytes.toString()) as { manifests: Record<string, unknown>[]; annotations?: unknown };
    index.manifests[0]!.platform = { architecture: { toString: 1 }, os: 'qemu' };
    index.annotations = { 'org.opencontainers.image.ref.name': { toString: 1 } };
    await storeUnchecked(target, 'bad', Buffer.from(JSON.stringify(index)));
    const all = await listing(target);
    assert.deepEqual(all.variants.map((v) => v.tag), ['good']);
    assert.equal(all.variants[0]!.manifest, good.manifest);
    assert.deepEqual(
      all.skipped?.map((s) => [s.tag, s.manifest]),
      [['bad', bad.manifest]],
      'the malformed variant is named, not silently dropped',
    );
    assert.match(all.skipped![0]!.reason, /architecture/);
    // Filters on the bad tag, a merge push onto it, and the tag alone: no 500 either.
    const filtered = await fetch(`${base}/v2/${target}/manifests/bad?arch=arm64`);
    assert.ok(filtered.status < 500, `filtered GET: ${filtered.status}`);
    const merge = await pack(base, target, { tag: 'bad', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('I', 3000) });
    assert.ok(merge.status < 500, `merge: ${merge.status} ${await merge.clone().text()}`);
    assert.ok((await fetch(`${base}/v2/${target}/_unikraft/variants?tag=bad`)).status < 500);
  });

  test('a config blob with fields of the wrong type or nested deep: the variant is reported, the listing answers', async () => {
    const target = repoName('uk/config');
    const ok = await packOk(base, target, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('K', 3000), cmd: ['-a'] });
    const view = await inspect(base, target, 'v1');
    const manifest = JSON.parse(view.variants[0]!.manifestBytes.toString()) as { config: Record<string, unknown> };
    const configs: [string, string][] = [
      ['architecture', `{"architecture":{"toString":1},"os":"qemu","config":{}}`],
      ['Cmd', `{"architecture":"x86_64","os":"qemu","config":{"Cmd":${nested(20_000)}}}`],
      ['Env', `{"architecture":"x86_64","os":"qemu","config":{"Env":[{"toString":1}]}}`],
    ];
    for (const [i, [field, config]] of configs.entries()) {
      const configDigest = await pushBlob(base, target, config);
      // No platform on the descriptors: the listing reads it from the config blob.
      const m = { ...manifest, config: { mediaType: KMT.config, digest: configDigest, size: Buffer.byteLength(config) } };
      const mBytes = Buffer.from(JSON.stringify(m));
      assert.equal((await putTag(base, target, sha256(mBytes), mBytes, KMT.manifest)).status, 201);
      const idx = JSON.parse(view.bytes.toString()) as { manifests: Record<string, unknown>[] };
      idx.manifests = [{ ...idx.manifests[0], digest: sha256(mBytes), size: mBytes.length, platform: { os: 'qemu' } }];
      const tag = `c${i}`;
      assert.equal((await putTag(base, target, tag, Buffer.from(JSON.stringify(idx)))).status, 201);
      const one = await listing(target, `?tag=${tag}`);
      assert.deepEqual(one.variants, [], field);
      assert.equal(one.skipped?.length, 1, `${field}: ${JSON.stringify(one)}`);
      assert.match(one.skipped![0]!.reason, new RegExp(field), field);
    }
    const all = await listing(target);
    assert.deepEqual(all.variants.map((v) => [v.tag, v.manifest, v.cmd]), [['v1', ok.manifest, ['-a']]]);
    assert.equal(all.skipped?.length, 3);
  });

  test('JSON pack with labels that are not strings: 400 naming the field', async () => {
    const target = repoName('uk/pack');
    const kernel = await pushBlob(base, target, bytesOf('J', 3000));
    const body = { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel };
    for (const labels of [{ a: { toString: 1 } }, { a: 1 }, { a: null }, { a: ['x'] }, [1], 7]) {
      const res = await packJson(base, target, { ...body, labels });
      const text = await res.clone().text();
      await expectError(res, 400);
      assert.match(text, /label/, JSON.stringify(labels));
      assert.match(res.headers.get('content-type') ?? '', /json/);
    }
    const deep = `{"tag":"v1","arch":"x86_64","plat":"qemu","kernel":"${kernel}","labels":${nested(20_000)}}`;
    await expectError(await packJson(base, target, deep), 400);
    const ok = await packJson(base, target, { ...body, labels: { a: 'b' } });
    assert.equal(ok.status, 201, await ok.clone().text());
  });

  test('a multipart pack cut off inside a text or unexpected part: 400, and the server stays up', async () => {
    const target = repoName('uk/cut');
    for (const part of ['name="kconfig"; filename=".config"', 'name="other"; filename="x"']) {
      const body = `--b0\r\nContent-Disposition: form-data; name="arch"\r\n\r\nx86_64\r\n--b0\r\nContent-Disposition: form-data; ${part}\r\n\r\nCONFIG_A=y\n`;
      const res = await fetch(`${base}/v2/${target}/_unikraft/pack`, {
        method: 'POST',
        headers: { 'Content-Type': 'multipart/form-data; boundary=b0' },
        body,
      });
      await expectError(res, 400, 'BAD_REQUEST');
      // An error event nobody listened to would have been thrown after the answer: give it the chance.
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await fetch(`${base}/v2/`)).status, 200);
  });

  test('an absent config blob means no config; an unreadable one is a storage error, not "no config"', async () => {
    const target = repoName('uk/storage');
    const P = await packOk(base, target, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('S', 3000), cmd: ['-x'] });
    const configPath = srv.registry.deps.layout.blobPath(P.config as Digest);
    const kernelPath = srv.registry.deps.layout.blobPath(P.layers[0]!.digest);
    const listed = await listing(target);
    assert.deepEqual(listed.variants[0]!.cmd, ['-x']);
    assert.equal(typeof (listed.variants[0] as unknown as { kernelSize?: number }).kernelSize, 'number');

    // A config blob that cannot be read (a directory where the file was): the error is not swallowed.
    await rm(configPath);
    await mkdir(configPath);
    const broken = await fetch(`${base}/v2/${target}/_unikraft/variants`);
    const text = await broken.text();
    assert.ok(broken.status >= 500, `a storage failure must not become a listing without cmd: ${broken.status} ${text}`);
    assert.ok(Array.isArray((JSON.parse(text) as { errors?: unknown[] }).errors), text);
    // Gone altogether: genuinely absent, the variant is listed without its config.
    await rm(configPath, { recursive: true });
    assert.deepEqual((await listing(target)).variants[0]!.cmd, []);

    // The same for the kernel layer whose header gives the kernel size.
    await rm(kernelPath);
    await mkdir(kernelPath);
    const layerBroken = await fetch(`${base}/v2/${target}/_unikraft/variants`);
    assert.ok(layerBroken.status >= 500, `kernel size: ${layerBroken.status} ${await layerBroken.text()}`);
    await rm(kernelPath, { recursive: true });
    const gone = (await listing(target)).variants[0] as unknown as { kernelSize?: number };
    assert.equal(gone.kernelSize, undefined);
  });

  test('the stored index of A is intact after all of it', async () => {
    const res = await fetch(`${base}/v2/${repo}/manifests/v1`, { headers: { Accept: KMT.index } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(v1Bytes));
    assert.equal(A.tag, 'v1');
  });
});
