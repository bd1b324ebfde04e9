/** The referrers API: OCI-Subject on PUT, listing, artifactType filter, deletes and paging. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  type Descriptor,
  abs,
  buildIndex,
  descriptorOf,
  expectError,
  nextLink,
  prepareImage,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  repoName,
  sha256,
} from '../helpers/oci.js';

const TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
const TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
const TYPE_INDEX = 'application/vnd.food.stand';
const ANN = 'org.opencontainers.conformance.test';
const EMPTY_DESC: Descriptor = { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests?: (Descriptor & { artifactType?: string; annotations?: Record<string, string> })[];
}

interface Pushed {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

describe('referrers', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });

  const list = (repo: string, subject: string, query = '') =>
    fetch(`${srv.url}/v2/${repo}/referrers/${subject}${query}`);

  async function readIndex(res: Response): Promise<Index> {
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MT.ociIndex);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const index = (await res.json()) as Index;
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, MT.ociIndex);
    return index;
  }

  /** PUT `manifest` by digest, expecting 201 and OCI-Subject = subject. */
  async function pushReferrer(repo: string, manifest: Record<string, unknown>, mediaType = MT.ociManifest as string): Promise<Pushed> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(bytes);
    const res = await putManifest(srv.url, repo, digest, bytes, mediaType);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('oci-subject'), (manifest.subject as Descriptor).digest);
    const config = manifest.config as Descriptor | undefined;
    return {
      bytes,
      digest,
      mediaType,
      artifactType: (manifest.artifactType as string | undefined) ?? config?.mediaType,
      annotations: manifest.annotations as Record<string, string> | undefined,
    };
  }

  /** The conformance fixtures: A-config, A-layer, an index, B-config, B-layer, all on `subject`. */
  async function fixtures(repo: string, subject: Descriptor): Promise<Pushed[]> {
    await pushBlob(srv.url, repo, EMPTY_JSON);
    const blobA = randomBlob(20);
    const blobB = randomBlob(20);
    await pushBlob(srv.url, repo, blobA);
    await pushBlob(srv.url, repo, blobB);
    const configShape = (type: string, n: string) => ({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: type, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [EMPTY_DESC],
      subject,
      annotations: { [ANN]: `${n}-config` },
    });
    const layerShape = (type: string, blob: Buffer, n: string) => ({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: type,
      config: EMPTY_DESC,
      layers: [descriptorOf('application/octet-stream', blob)],
      subject,
      annotations: { [ANN]: `${n}-layer` },
    });
    const aConfig = await pushReferrer(repo, configShape(TYPE_A, 'a'));
    const aLayer = await pushReferrer(repo, layerShape(TYPE_A, blobA, 'a'));
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      artifactType: TYPE_INDEX,
      manifests: [
        { mediaType: MT.ociManifest, digest: aConfig.digest, size: aConfig.bytes.length },
        { mediaType: MT.ociManifest, digest: aLayer.digest, size: aLayer.bytes.length },
      ],
      subject,
      annotations: { [ANN]: 'index' },
    };
    const idx = await pushReferrer(repo, index, MT.ociIndex);
    const bConfig = await pushReferrer(repo, configShape(TYPE_B, 'b'));
    const bLayer = await pushReferrer(repo, layerShape(TYPE_B, blobB, 'b'));
    return [aConfig, aLayer, idx, bConfig, bLayer];
  }

  function expectDescriptors(got: Index['manifests'], expected: Pushed[]) {
    const entries = got ?? [];
    assert.equal(entries.length, expected.length, JSON.stringify(entries));
    const byDigest = new Map(entries.map((d) => [d.digest, d]));
    for (const want of expected) {
      const d = byDigest.get(want.digest);
      assert.ok(d, `referrer ${want.digest} listed`);
      assert.equal(d.mediaType, want.mediaType);
      assert.equal(d.size, want.bytes.length);
      assert.equal(d.artifactType, want.artifactType);
      assert.deepEqual(d.annotations, want.annotations);
    }
  }

  test('referrers of an existing subject: OCI-Subject on PUT, full descriptors in the index', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'tagtest0');
    const pushed = await fixtures(repo, subject.descriptor);
    const index = await readIndex(await list(repo, subject.digest));
    expectDescriptors(index.manifests, pushed);
  });

  test('a subject that does not exist yet is accepted (OCI-Subject) and listed', async () => {
    const repo = repoName('ref');
    const subject = await prepareImage(srv.url, repo); // never pushed before the referrers
    const pushed = await fixtures(repo, subject.descriptor);
    expectDescriptors((await readIndex(await list(repo, subject.digest))).manifests, pushed);
    // Pushing the subject afterwards changes nothing.
    assert.equal((await putManifest(srv.url, repo, 'late', subject.bytes)).status, 201);
    expectDescriptors((await readIndex(await list(repo, subject.digest))).manifests, pushed);
  });

  test('an unknown subject: 200 with an empty list', async () => {
    const repo = repoName('ref');
    await pushImage(srv.url, repo, 'x');
    const index = await readIndex(await list(repo, sha256('hello world')));
    assert.equal((index.manifests ?? []).length, 0);
  });

  test('a repository that does not exist: 200 empty or 404 NAME_UNKNOWN', async () => {
    const res = await list(repoName('ghost'), sha256('hello world'));
    if (res.status === 404) await expectError(res, 404, 'NAME_UNKNOWN');
    else assert.equal(((await readIndex(res)).manifests ?? []).length, 0);
  });

  test('an invalid subject digest: 400 DIGEST_INVALID', async () => {
    const repo = repoName('ref');
    await pushImage(srv.url, repo, 'x');
    await expectError(await list(repo, 'sha256:totallywrong'), 400, 'DIGEST_INVALID');
    await expectError(await list(repo, 'md5:abc'), 400, 'DIGEST_INVALID');
  });

  test('?artifactType= filters and sets OCI-Filters-Applied: artifactType', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'tagtest0');
    const [aConfig, aLayer, idx, , bLayer] = await fixtures(repo, subject.descriptor);
    const a = await list(repo, subject.digest, `?artifactType=${TYPE_A}`);
    assert.equal(a.headers.get('oci-filters-applied'), 'artifactType');
    expectDescriptors((await readIndex(a)).manifests, [aConfig!, aLayer!]);
    const i = await list(repo, subject.digest, `?artifactType=${encodeURIComponent(TYPE_INDEX)}`);
    assert.equal(i.headers.get('oci-filters-applied'), 'artifactType');
    expectDescriptors((await readIndex(i)).manifests, [idx!]);
    const none = await list(repo, subject.digest, '?artifactType=application/vnd.nothing');
    assert.equal(none.headers.get('oci-filters-applied'), 'artifactType');
    assert.equal(((await readIndex(none)).manifests ?? []).length, 0);
    const all = await list(repo, subject.digest);
    assert.equal(all.headers.get('oci-filters-applied'), null);
    assert.equal((await readIndex(all)).manifests?.length, 5);
    void bLayer;
  });

  test('a dangling subject lists exactly its referrer; manifests without subject are not referrers', async () => {
    const repo = repoName('ref');
    const other = await pushImage(srv.url, repo, 'plain');
    const ghost = await prepareImage(srv.url, repo);
    await pushBlob(srv.url, repo, EMPTY_JSON);
    const c = await pushReferrer(repo, {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: TYPE_B,
      config: EMPTY_DESC,
      layers: [EMPTY_DESC],
      subject: ghost.descriptor,
    });
    const index = await readIndex(await list(repo, ghost.digest));
    assert.equal(index.manifests?.length, 1);
    assert.equal(index.manifests?.[0]?.digest, c.digest);
    assert.equal(index.manifests?.[0]?.artifactType, TYPE_B);
    assert.equal(((await readIndex(await list(repo, other.digest))).manifests ?? []).length, 0);
  });

  test('referrers are per repository', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    await fixtures(repo, subject.descriptor);
    const elsewhere = repoName('ref');
    await pushImage(srv.url, elsewhere, 'y');
    assert.equal(((await readIndex(await list(elsewhere, subject.digest))).manifests ?? []).length, 0);
  });

  test('a referrer pushed by tag and again by digest is listed once', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const ref = await prepareImage(srv.url, repo, { subject: subject.descriptor, artifactType: TYPE_A });
    for (const r of ['sig', ref.digest, 'sig2']) {
      const res = await putManifest(srv.url, repo, r, ref.bytes);
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('oci-subject'), subject.digest);
    }
    const index = await readIndex(await list(repo, subject.digest));
    assert.equal(index.manifests?.length, 1);
  });

  test('deleting a referrer removes it from the list', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const pushed = await fixtures(repo, subject.descriptor);
    const gone = pushed[1]!;
    const del = await fetch(`${srv.url}/v2/${repo}/manifests/${gone.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    expectDescriptors((await readIndex(await list(repo, subject.digest))).manifests, pushed.filter((p) => p !== gone));
    const filtered = await readIndex(await list(repo, subject.digest, `?artifactType=${TYPE_A}`));
    assert.equal(filtered.manifests?.length, 1);
  });

  test('paging with n: a Link header whose URL returns the rest', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const pushed = await fixtures(repo, subject.descriptor);
    const seen: NonNullable<Index['manifests']> = [];
    let url: string | undefined = `/v2/${repo}/referrers/${subject.digest}?n=2`;
    let pages = 0;
    while (url !== undefined) {
      const res: Response = await fetch(abs(srv.url, url));
      const link = nextLink(res);
      const index = await readIndex(res);
      const entries = index.manifests ?? [];
      assert.ok(entries.length <= 2, `page of ${entries.length}`);
      if (link !== undefined) assert.equal(entries.length, 2);
      seen.push(...entries);
      url = link;
      assert.ok(++pages <= 5, 'paging terminates');
    }
    assert.ok(pages >= 3, `expected at least 3 pages, got ${pages}`);
    expectDescriptors(seen, pushed);
  });

  test('paging keeps the artifactType filter', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const [aConfig, aLayer] = await fixtures(repo, subject.descriptor);
    const first = await list(repo, subject.digest, `?artifactType=${TYPE_A}&n=1`);
    const link = nextLink(first);
    const page1 = (await readIndex(first)).manifests ?? [];
    assert.equal(page1.length, 1);
    assert.ok(link, 'a Link to the second match');
    const second = await fetch(abs(srv.url, link));
    assert.equal(second.headers.get('oci-filters-applied'), 'artifactType');
    const page2 = (await readIndex(second)).manifests ?? [];
    expectDescriptors([...page1, ...page2], [aConfig!, aLayer!]);
  });

  test('an index with a subject answers OCI-Subject', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const child = await pushImage(srv.url, repo);
    const bytes = buildIndex([child.descriptor], { subject: subject.descriptor, artifactType: TYPE_INDEX });
    const res = await putManifest(srv.url, repo, 'idx', bytes, MT.ociIndex);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), subject.digest);
    const index = await readIndex(await list(repo, subject.digest));
    assert.equal(index.manifests?.[0]?.digest, sha256(bytes));
    assert.equal(index.manifests?.[0]?.mediaType, MT.ociIndex);
    assert.equal(index.manifests?.[0]?.artifactType, TYPE_INDEX);
  });

  test('a manifest without subject does not answer OCI-Subject', async () => {
    const repo = repoName('ref');
    const image = await prepareImage(srv.url, repo);
    const res = await putManifest(srv.url, repo, 'x', image.bytes);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), null);
  });

  test('an index with a subject and no artifactType is listed without artifactType', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    const child = await pushImage(srv.url, repo);
    const bytes = buildIndex([child.descriptor], { subject: subject.descriptor, annotations: { k: 'v' } });
    const res = await putManifest(srv.url, repo, sha256(bytes), bytes, MT.ociIndex);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), subject.digest);
    const entry = (await readIndex(await list(repo, subject.digest))).manifests?.[0];
    assert.equal(entry?.digest, sha256(bytes));
    assert.equal(entry?.artifactType, undefined);
    assert.deepEqual(entry?.annotations, { k: 'v' });
  });

  test('n=0 gives an empty page; a non-numeric n is 400', async () => {
    const repo = repoName('ref');
    const subject = await pushImage(srv.url, repo, 'x');
    await fixtures(repo, subject.descriptor);
    const zero = await list(repo, subject.digest, '?n=0');
    assert.equal(zero.headers.get('link'), null);
    assert.equal(((await readIndex(zero)).manifests ?? []).length, 0);
    await expectError(await list(repo, subject.digest, '?n=abc'), 400);
  });
});
