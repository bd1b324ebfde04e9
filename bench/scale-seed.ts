/**
 * Seeding for `npm run bench:scale`: the same content for both registries.
 *
 * A size of R repositories holds 10·R manifests and 20·R tags:
 *   - `big/tags`: R distinct manifests, each under 10 tags (10·R tags: the tags/list walk);
 *   - `bench/tags1000`: one manifest under 1,000 tags (the 64-connection tags/list load);
 *   - R − 2 repositories `org-<k>/app-<i>`: 9 manifests each, each by its own tag, and one more tag.
 * Every manifest is small (config and one 32 KiB layer, both mounted from `seed/base`) and distinct
 * (an annotation names it), so each has its own digest.
 *
 * unireg is seeded in-process through its registry services, composed as src/main.ts composes
 * them (`registry.uploads.store`, `registry.blobs.mount`, `registry.manifests.put`: what the HTTP
 * handlers call), so the keys are exactly the API's; only the HTTP round trip is skipped, and each
 * metadata batch is written without its own fsync (NoSyncKv), with one durable flush at the end,
 * as LevelDB would otherwise fsync 200,000 times. The real server is then started on that root. Distribution is seeded through its HTTP API
 * (cross-repository mounts and manifest PUTs) with `parallel` requests in flight.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { configSchema } from '../src/config/schema.js';
import { parseDigest } from '../src/oci/digest.js';
import { InProcessLocks } from '../src/registry/locks.js';
import { ManifestCache } from '../src/registry/manifest-cache.js';
import { QuotaService } from '../src/registry/quotas.js';
import { Registry } from '../src/registry/registry.js';
import { FsBlobStore } from '../src/storage/fs/fs-blob-store.js';
import { FsUploadArea } from '../src/storage/fs/fs-upload-area.js';
import { Layout } from '../src/storage/fs/layout.js';
import type { KvOp, KvRange, SortedKv } from '../src/storage/kv.js';
import { LevelKv } from '../src/storage/level/level-kv.js';
import { KvMetadataStore } from '../src/storage/metadata/kv-metadata-store.js';
import { UnikernelTagMerger } from '../src/unikernel/tag-merger.js';
import { putSmallBlob, request } from './client.js';
import { OCI_MANIFEST } from './image.js';

export const BIG_REPO = 'big/tags';
export const TAGS1000_REPO = 'bench/tags1000';
const BASE_REPO = 'seed/base';

export interface SeedPlan {
  repos: number;
  manifests: number;
  tags: number;
  bigTags: number;
  /** Catalog only: every repository holds one manifest under one tag (no big/tags, no bench/tags1000 content). */
  catalogOnly?: boolean;
  /** Tags only: big/tags alone, bigTags / 10 manifests under bigTags tags (no other repository's manifests). */
  tagsOnly?: boolean;
}

export function planOf(repos: number): SeedPlan {
  return { repos, manifests: 10 * repos, tags: 20 * repos, bigTags: 10 * repos };
}

/** For a catalog walk only: R repositories with one tagged manifest each (Distribution at a size its API seeding reaches here). */
export function catalogPlanOf(repos: number): SeedPlan {
  return { repos, manifests: repos, tags: repos, bigTags: 0, catalogOnly: true };
}

/** For the tags/list answer alone: big/tags as planOf(repos) seeds it, 10·R tags of R manifests, and nothing else. */
export function tagsPlanOf(repos: number): SeedPlan {
  return { repos: 2, manifests: repos, tags: 10 * repos, bigTags: 10 * repos, tagsOnly: true };
}

function otherRepo(i: number): string {
  return `org-${String(i % 100).padStart(2, '0')}/app-${String(i).padStart(6, '0')}`;
}

/** One seeding step: a mount or a manifest PUT. */
type Step = { kind: 'mount'; repo: string; digest: string } | { kind: 'manifest'; repo: string; ref: string; body: Buffer };

interface BaseBlobs {
  config: { digest: string; size: number };
  layer: { digest: string; size: number };
}

function baseContent(): { config: Buffer; layer: Buffer } {
  const layer = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0)).update(Buffer.alloc(32 * 1024));
  const layerDigest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }),
  );
  return { config, layer };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function manifest(base: BaseBlobs, name: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...base.config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...base.layer }],
      annotations: { 'org.example.seed': name },
    }),
  );
}

const REPOS_OF = (plan: SeedPlan): string[] => [TAGS1000_REPO, BIG_REPO, ...Array.from({ length: plan.repos - 2 }, (_, i) => otherRepo(i))];

/** First pass: both blobs mounted into every repository. */
function* mountSteps(plan: SeedPlan, base: BaseBlobs): Generator<Step> {
  for (const repo of REPOS_OF(plan)) {
    yield { kind: 'mount', repo, digest: base.config.digest };
    yield { kind: 'mount', repo, digest: base.layer.digest };
  }
}

/** Second pass: every manifest PUT, repository by repository. */
function* manifestSteps(plan: SeedPlan, base: BaseBlobs): Generator<Step> {
  if (plan.catalogOnly) {
    for (const repo of REPOS_OF(plan)) yield { kind: 'manifest', repo, ref: 'latest', body: manifest(base, repo) };
    return;
  }
  if (!plan.tagsOnly) {
    const one = manifest(base, TAGS1000_REPO);
    for (let t = 0; t < 1000; t++) yield { kind: 'manifest', repo: TAGS1000_REPO, ref: `t${String(t).padStart(4, '0')}`, body: one };
  }
  for (let m = 0; m < plan.bigTags / 10; m++) {
    const body = manifest(base, `${BIG_REPO}#${m}`);
    for (let k = 0; k < 10; k++) {
      const n = m * 10 + k;
      yield { kind: 'manifest', repo: BIG_REPO, ref: `v${String(n).padStart(7, '0')}`, body };
    }
  }
  for (let i = 0; i < plan.repos - 2; i++) {
    const repo = otherRepo(i);
    let first: Buffer | undefined;
    for (let m = 0; m < 9; m++) {
      const body = manifest(base, `${repo}#${m}`);
      first ??= body;
      yield { kind: 'manifest', repo, ref: `1.${m}.0`, body };
    }
    yield { kind: 'manifest', repo, ref: 'latest', body: first! };
  }
}

/** A manifest in the middle of the catalog, for the manifest GET load. */
export function midRepo(plan: SeedPlan): { repo: string; tag: string } {
  return { repo: otherRepo(Math.floor((plan.repos - 2) / 2)), tag: '1.4.0' };
}

async function runSteps(plan: SeedPlan, base: BaseBlobs, parallel: number, run: (s: Step) => Promise<void>, label: string): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  let lastLog = t0;
  let it: Generator<Step> = mountSteps(plan, base);
  const worker = async (): Promise<void> => {
    for (let next = it.next(); !next.done; next = it.next()) {
      await run(next.value);
      done++;
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        process.stderr.write(`[seed ${label}] ${done} steps, ${(done / ((lastLog - t0) / 1000)).toFixed(0)}/s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  it = manifestSteps(plan, base);
  await Promise.all(Array.from({ length: parallel }, worker));
  return (performance.now() - t0) / 1000;
}

/** The LevelDB store with every batch written without fsync (seeding only; a flush at the end makes it durable). */
class NoSyncKv implements SortedKv {
  constructor(private readonly inner: SortedKv) {}
  open(): Promise<void> {
    return this.inner.open();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  get(key: string): Promise<Buffer | undefined> {
    return this.inner.get(key);
  }
  batch(ops: KvOp[]): Promise<void> {
    return this.inner.batch(ops, { durable: false });
  }
  entries(range: KvRange): Promise<[string, Buffer][]> {
    return this.inner.entries(range);
  }
  keys(range: KvRange): Promise<string[]> {
    return this.inner.keys(range);
  }
}

/** Seeds unireg's storage root in-process; the root must not be served meanwhile. Returns seconds. */
export async function seedUnireg(root: string, plan: SeedPlan, parallel = 32): Promise<number> {
  const config = configSchema.parse({ storage: { root }, log: { level: 'warn' } });
  const log = pino({ level: 'warn' });
  const layout = new Layout(resolve(root));
  const blobStore = new FsBlobStore(layout);
  await blobStore.init();
  const meta = new KvMetadataStore(new NoSyncKv(new LevelKv(layout.metaDir, log)));
  await meta.open();
  // As a registry's first start does on its empty store (src/main.ts): from then on every push indexes itself,
  // so a registry filled through the API never runs the start-up backfill (which is for data older than the index).
  await meta.markIndexBuilt(true);
  try {
    const quotas = new QuotaService(meta, config.quotas);
    quotas.start();
    const registry = new Registry(
      { meta, blobs: blobStore, uploadArea: new FsUploadArea(layout, blobStore), layout, config, log, locks: new InProcessLocks(), cache: new ManifestCache(), quotas },
      (deps) => new UnikernelTagMerger(deps),
    );
    const { config: configBytes, layer } = baseContent();
    const stored = await Promise.all([registry.uploads.store(BASE_REPO, [configBytes]), registry.uploads.store(BASE_REPO, [layer])]);
    const base: BaseBlobs = { config: stored[0], layer: stored[1] };
    return await runSteps(
      plan,
      base,
      parallel,
      async (s) => {
        if (s.kind === 'mount') {
          if (!(await registry.blobs.mount(s.repo, parseDigest(s.digest), BASE_REPO))) throw new Error(`mount ${s.digest} into ${s.repo} failed`);
        } else {
          await registry.manifests.put(s.repo, s.ref, s.body, OCI_MANIFEST);
        }
      },
      'unireg',
    ).finally(() => meta.flush());
  } finally {
    await meta.close();
  }
}

/** Seeds a running Distribution through its API. Returns seconds. */
export async function seedOverHttp(baseUrl: string, plan: SeedPlan, parallel = 16): Promise<number> {
  const { config, layer } = baseContent();
  const base: BaseBlobs = {
    config: { digest: await putSmallBlob(baseUrl, BASE_REPO, config), size: config.length },
    layer: { digest: await putSmallBlob(baseUrl, BASE_REPO, layer), size: layer.length },
  };
  if (base.config.digest !== sha(config)) throw new Error('config digest differs');
  return runSteps(
    plan,
    base,
    parallel,
    async (s) => {
      if (s.kind === 'mount') {
        await request('POST', `${baseUrl}/v2/${s.repo}/blobs/uploads/?mount=${s.digest}&from=${BASE_REPO}`, {
          headers: { 'Content-Length': 0 },
          expect: [201],
        });
      } else {
        await request('PUT', `${baseUrl}/v2/${s.repo}/manifests/${s.ref}`, {
          headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': s.body.length },
          body: s.body,
          expect: [201],
        });
      }
    },
    'distribution',
  );
}
