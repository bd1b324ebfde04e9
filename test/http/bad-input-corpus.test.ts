/**
 * The bad-input corpus: over a thousand generated requests (seeded: the same
 * seed sends the same requests) against a real listening server, covering names,
 * digests, manifests (deep nesting, wrong types, truncation), ranges, paging,
 * upload sessions and Content-Range, packs (multipart and JSON), kconfig filters,
 * the variants listing, referrers and tags. No answer may be a 5xx, every error
 * must be the OCI JSON envelope with a known code, and a reference image pushed
 * before the corpus must be pulled byte-identical afterwards.
 *
 * `CORPUS_SEED=<n>` replays another corpus; `CORPUS_COUNT=<n>` sizes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildFixture } from './corpus/fixture.js';
import { generateCorpus } from './corpus/generate.js';
import { describeFailure, runCorpus, type Outcome } from './corpus/run.js';
import type { Fixture } from './corpus/types.js';
import { MT, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SEED = Number(process.env.CORPUS_SEED ?? 20261130);
const COUNT = Number(process.env.CORPUS_COUNT ?? 1200);

describe(`bad-input corpus (seed ${SEED})`, () => {
  let srv: TestServer;
  let fx: Fixture;
  let refBytes: Buffer;
  let outcomes: Outcome[] = [];

  before(async () => {
    srv = await startTestServer();
    ({ fx, refBytes } = await buildFixture(srv.url, SEED));
  });
  after(() => srv.destroy());

  test('the same seed generates the same requests', () => {
    const a = generateCorpus(SEED, fx, 300);
    const b = generateCorpus(SEED, fx, 300);
    assert.deepEqual(a, b);
    assert.notDeepEqual(generateCorpus(SEED + 1, fx, 300), a);
  });

  test(`no answer is a 5xx, every error is an OCI envelope with a known code (CORPUS_SEED=${SEED})`, async (t) => {
    const requests = generateCorpus(SEED, fx, COUNT);
    // The fixture has fixed bytes, so this fingerprint is the same on every run with this seed.
    const fingerprint = sha256(JSON.stringify(requests.map((r) => ({ ...r, body: r.body?.toString('base64') }))));
    t.diagnostic(`seed ${SEED}: ${requests.length} generated requests, fingerprint ${fingerprint}`);
    outcomes = await runCorpus(srv.url, requests);
    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.answer.status, (byStatus.get(o.answer.status) ?? 0) + 1);
    t.diagnostic(`seed ${SEED}: ${outcomes.length} answers, by status ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}`);
    const failures = outcomes.filter((o) => o.problem !== undefined);
    assert.deepEqual(
      failures.slice(0, 20).map(describeFailure),
      [],
      `CORPUS_SEED=${SEED}: ${failures.length} of ${outcomes.length} answers are wrong (first 20 shown)`,
    );
    assert.ok(outcomes.length >= 1000, `${outcomes.length} requests`);
  });

  test('the corpus reaches the success paths too, not only the first check', () => {
    const ok = (kind: string) => outcomes.filter((o) => o.request.kind.startsWith(kind) && o.answer.status < 300).length;
    const bad = (kind: string) => outcomes.filter((o) => o.request.kind.startsWith(kind) && o.answer.status >= 400).length;
    for (const kind of ['manifest-put', 'pack-multipart', 'pack-json', 'upload-patch', 'filtered-get', 'blob-range', 'variants', 'referrers']) {
      assert.ok(ok(kind) > 0, `${kind}: some requests succeed (seed ${SEED})`);
      assert.ok(bad(kind) > 0, `${kind}: some requests are refused (seed ${SEED})`);
    }
  });

  test('afterwards the reference image pulls byte-identical', async () => {
    assert.ok(outcomes.length > 0, 'the corpus ran');
    for (const ref of ['stable', fx.refManifest]) {
      const res = await fetch(`${srv.url}/v2/${fx.refRepo}/manifests/${ref}`, { headers: { Accept: MT.ociManifest } });
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, `manifest ${ref} (seed ${SEED})`);
      assert.ok(bytes.equals(refBytes), `manifest ${ref}: the bytes pushed (seed ${SEED})`);
      assert.equal(res.headers.get('docker-content-digest'), fx.refManifest);
    }
    for (const digest of fx.refBlobs) {
      const res = await fetch(`${srv.url}/v2/${fx.refRepo}/blobs/${digest}`);
      assert.equal(res.status, 200, `blob ${digest} (seed ${SEED})`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, `blob ${digest} (seed ${SEED})`);
    }
    const tags = (await (await fetch(`${srv.url}/v2/${fx.refRepo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['stable']);
  });
});
