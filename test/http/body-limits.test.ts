/**
 * Request bodies held in memory: one budget for all requests together
 * (http.bodyBudget) refuses with 503 TOOMANYREQUESTS once full and serves again
 * when bodies finish or time out; multipart fields are accepted whole up to
 * their limits and refused with a 400 naming the field or limit beyond them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dotConfig, expectPacked, packForm, VECTOR } from '../helpers/kraft.js';
import { bin, buildImage, expectError, prepareImage, repoName } from '../helpers/oci.js';
import { openRaw, sendHead, type RawConnection } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const WAIT = 5_000;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe('the body budget', () => {
  let srv: TestServer;
  const open: RawConnection[] = [];
  before(async () => {
    srv = await startTestServer({ http: { bodyBudget: 64 * 1024, bodyIdleTimeout: '500ms' }, manifests: { maxSize: 64 * 1024 } });
  });
  after(async () => {
    for (const c of open) c.end();
    await srv.destroy();
  });

  /** A valid manifest of about `size` bytes (padded with an annotation), its blobs pushed to `repo`. */
  async function manifestOf(repo: string, size: number): Promise<{ bytes: Buffer; type: string }> {
    const image = await prepareImage(srv.url, repo);
    const padded = buildImage(image.config, image.layers, { annotations: { pad: 'x'.repeat(size - image.bytes.length - 20) } });
    return { bytes: padded.bytes, type: padded.manifest.mediaType as string };
  }
  const put = (repo: string, tag: string, bytes: Buffer, type: string) =>
    fetch(`${srv.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': type }, body: bin(bytes) });

  /** PUTs junk of `size` bytes until the budget refuses it (the stalled request ahead of it has taken its share). */
  async function expectRefusal(repo: string, size: number): Promise<void> {
    let res: Response | undefined;
    for (let i = 0; i < 100; i++) {
      res = await put(repo, 'junk', Buffer.alloc(size, 0x20), 'application/vnd.oci.image.manifest.v1+json');
      if (res.status === 503) break;
      await expectError(res, 400, 'MANIFEST_INVALID');
      await sleep(20);
    }
    assert.equal(res!.headers.get('retry-after'), '1');
    await expectError(res!, 503, 'TOOMANYREQUESTS');
  }

  for (const chunked of [false, true]) {
    test(`a stalled ${chunked ? 'chunked' : 'Content-Length'} manifest PUT holds its share: the next is refused with 503 until it times out`, async () => {
      const repo = repoName('budget');
      const { bytes, type } = await manifestOf(repo, 30_000);
      const stalled = await openRaw(srv.url);
      open.push(stalled);
      const path = `/v2/${repo}/manifests/stalled`;
      if (chunked) {
        // 40,000 bytes arrive (counted as they come), then nothing.
        sendHead(stalled, 'PUT', path, { 'Content-Type': type, 'Transfer-Encoding': 'chunked' }, Buffer.concat([Buffer.from('9c40\r\n'), Buffer.alloc(40_000, 0x20), Buffer.from('\r\n')]));
      } else {
        sendHead(stalled, 'PUT', path, { 'Content-Type': type, 'Content-Length': 40_000 }, Buffer.alloc(10, 0x20));
      }
      await expectRefusal(repo, bytes.length);
      // The stalled request times out, gives its share back, and the same manifest goes in.
      await stalled.closed(WAIT);
      const res = await put(repo, 'v1', bytes, type);
      assert.equal(res.status, 201, await res.text());
    });
  }

  test('pack requests count their multipart text fields against the same budget', async () => {
    const repo = repoName('budget');
    const stalled = await openRaw(srv.url);
    open.push(stalled);
    sendHead(stalled, 'PUT', `/v2/${repo}/manifests/stalled`, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': 56_000 }, Buffer.alloc(10, 0x20));
    await expectRefusal(repo, 10_000);
    // About 10 KB of fields: more than the 8 KiB the stalled request left.
    const kconfig = dotConfig(Array.from({ length: 400 }, (_, i) => `CONFIG_LIBFEATURE_${i}=y`));
    const form = packForm({ arch: 'x86_64', plat: 'qemu', kernel: VECTOR.kernel, kconfigField: kconfig });
    const res = await fetch(`${srv.url}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: form });
    await expectError(res, 503, 'TOOMANYREQUESTS');
    await stalled.closed(WAIT);
    const again = await fetch(`${srv.url}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: form });
    await expectPacked(again, repo);
  });
});

describe('multipart field limits of _unikraft/pack', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.destroy());

  const post = (repo: string, form: FormData) => fetch(`${srv.url}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: form });
  const features = (n: number) => Array.from({ length: n }, (_, i) => `CONFIG_LIBFEATURE_${i}=y`);

  async function expectRefused(res: Response, pattern: RegExp): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, 400, text);
    const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'BAD_REQUEST');
    assert.match(body.errors[0]!.message, pattern);
  }

  test('a kconfig sent as a field of 10,000 lines is kept whole', async () => {
    const repo = repoName('fields');
    const kconfig = dotConfig(features(10_000));
    assert.ok(kconfig.length > 64 * 1024);
    const result = await expectPacked(await post(repo, packForm({ arch: 'x86_64', plat: 'qemu', kernel: VECTOR.kernel, kconfigField: kconfig })), repo);
    const stored = result.platform['os.features'] ?? [];
    for (const f of features(10_000)) assert.ok(stored.includes(f), `${f} kept`);
  });

  test('a kconfig field over its 1 MiB limit is refused, naming it', async () => {
    const repo = repoName('fields');
    const kconfig = dotConfig(features(60_000));
    assert.ok(kconfig.length > 1 << 20);
    await expectRefused(await post(repo, packForm({ arch: 'x86_64', plat: 'qemu', kernel: VECTOR.kernel, kconfigField: kconfig })), /field kconfig is larger than its limit of 1048576 bytes/);
  });

  test('a cmd longer than 64 KiB is refused, naming the field, not cut', async () => {
    const repo = repoName('fields');
    const res = await post(repo, packForm({ arch: 'x86_64', plat: 'qemu', kernel: VECTOR.kernel, cmd: ['-v', 'x'.repeat(70_000)] }));
    await expectRefused(res, /field cmd is larger than its limit of 65536 bytes/);
    const tags = await fetch(`${srv.url}/v2/${repo}/tags/list`);
    assert.equal(tags.status, 404, 'nothing was stored');
  });

  test('a form with more than 256 fields is refused, naming the limit', async () => {
    const repo = repoName('fields');
    const env = Array.from({ length: 300 }, (_, i) => `V${i}=1`);
    await expectRefused(await post(repo, packForm({ arch: 'x86_64', plat: 'qemu', kernel: VECTOR.kernel, env })), /more than 256 fields/);
  });
});
