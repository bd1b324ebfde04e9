/**
 * The metadata key layout: the only module that builds or parses keys.
 * Fields are joined with NUL, which no repository name, tag or digest contains,
 * so a prefix scan of one repository never reaches into another ("a" vs "a/b").
 *
 *   r \0 <repo>                              repository record      → JSON { created }
 *   l \0 <repo> \0 <digest>                  blob linked to repo    → JSON { size, linkedAt, touchedAt }
 *                                                                     (older records: size in decimal, read as time 0)
 *   b \0 <digest> \0 <repo>                  reverse link           → ''   (mount without from, GC)
 *   m \0 <repo> \0 <digest>                  manifest               → u32 header length, header JSON
 *                                                                     { mediaType, subject?, pushedAt? }, exact bytes
 *   t \0 <repo> \0 <tag>                     tag                    → JSON { digest, pushedAt } (ms since the epoch);
 *                                                                     a plain digest (written before push times
 *                                                                     were kept) reads as pushedAt 0
 *   T \0 <repo> \0 <digest> \0 <tag>         reverse tag            → ''   (delete by digest)
 *   f \0 <repo> \0 <subject> \0 <digest>     referrer of subject    → descriptor JSON
 *   u \0 <uuid>                              upload session         → JSON session
 *   g \0 flush                               durable write marker   → JSON { at } (MetadataStore.flush)
 *   g \0 token-key                           token signing key      → private JWK JSON (shared stores only:
 *                                                                     src/auth/stored-signing-key.ts)
 *   e \0 <endpoint> \0 <seq> \0 <repo>       webhook event pending  → the exact CloudEvent JSON body
 *   E \0 <endpoint> \0 <seq> \0 <repo>       dead webhook event     → JSON { attempts, lastError, deadAt, body }
 *                                                                     (<seq>: 16 hex digits, the queue order;
 *                                                                     <repo> empty for registry-wide events)
 *   v \0 <repo> \0 <tag> \0 <digest>         indexed variant       → JSON { index, architecture, os, version?,
 *                                                                     features, kernelSize?, imageSize }
 *   V \0 <repo> \0 <digest> \0 <tag>         variant's reverse     → ''   (a deleted manifest leaves the index)
 *   x \0 <feature> \0 <repo> \0 <tag> \0 <digest>   feature posting → the variant's JSON without features (kconfig search)
 *   X \0 <feature>                           known feature         → ''   (the feature vocabulary; never removed
 *                                                                     on writes: one whose postings are gone is
 *                                                                     harmless and verify --repair drops it)
 *   g \0 unikernel-index                     index built marker    → JSON { at } (absent: backfill at start-up)
 *   (v, V, x written in the same batch as the tag change they follow: src/storage/metadata/search-index-ops.ts)
 *   a \0 <seq>                               boot check queued      → JSON { repo, manifest, enqueuedAt, attempts }
 *                                                                     (<seq>: 16 hex digits, the queue order;
 *                                                                     src/unikernel/boot/)
 *
 * Source of truth: these keys say what each repository holds; the blob
 * directory (src/storage/fs/layout.ts) holds content. A link whose blob file is
 * missing is reported as unknown, never served.
 */
const SEP = '\u0000';
/** Sorts after every character that can appear in a key field. */
const END = '\uffff';

export interface KeyRange {
  gt: string;
  lt: string;
}

function prefixRange(prefix: string, after?: string): KeyRange {
  return { gt: after === undefined ? prefix : prefix + after, lt: prefix + END };
}

function fromKey(prefix: string, last?: string): KeyRange {
  return { gt: last !== undefined && last.startsWith(prefix) ? last : prefix, lt: prefix + END };
}

const seqField = (seq: number) => seq.toString(16).padStart(16, '0');

export const keys = {
  repo: (repo: string) => `r${SEP}${repo}`,
  repos: (after?: string): KeyRange => prefixRange(`r${SEP}`, after),
  repoOf: (key: string) => key.slice(2),

  link: (repo: string, digest: string) => `l${SEP}${repo}${SEP}${digest}`,
  links: (repo: string, after?: string): KeyRange => prefixRange(`l${SEP}${repo}${SEP}`, after),
  digestOf: (key: string) => key.slice(key.lastIndexOf(SEP) + 1),
  blobRepo: (digest: string, repo: string) => `b${SEP}${digest}${SEP}${repo}`,
  blobRepos: (digest: string, after?: string): KeyRange => prefixRange(`b${SEP}${digest}${SEP}`, after),
  repoOfBlobRepoKey: (key: string) => key.slice(key.lastIndexOf(SEP) + 1),

  manifest: (repo: string, digest: string) => `m${SEP}${repo}${SEP}${digest}`,
  manifests: (repo: string, after?: string): KeyRange => prefixRange(`m${SEP}${repo}${SEP}`, after),

  tag: (repo: string, tag: string) => `t${SEP}${repo}${SEP}${tag}`,
  tags: (repo: string, after?: string): KeyRange => prefixRange(`t${SEP}${repo}${SEP}`, after),
  tagOf: (key: string) => key.slice(key.lastIndexOf(SEP) + 1),

  tagRev: (repo: string, digest: string, tag: string) => `T${SEP}${repo}${SEP}${digest}${SEP}${tag}`,
  tagRevs: (repo: string, digest: string): KeyRange => prefixRange(`T${SEP}${repo}${SEP}${digest}${SEP}`),

  referrer: (repo: string, subject: string, digest: string) => `f${SEP}${repo}${SEP}${subject}${SEP}${digest}`,
  referrers: (repo: string, subject: string, after?: string): KeyRange =>
    prefixRange(`f${SEP}${repo}${SEP}${subject}${SEP}`, after),

  flushMarker: () => `g${SEP}flush`,
  signingKey: () => `g${SEP}token-key`,
  indexMarker: () => `g${SEP}unikernel-index`,

  variant: (repo: string, tag: string, digest: string) => `v${SEP}${repo}${SEP}${tag}${SEP}${digest}`,
  variantsOfTag: (repo: string, tag: string): KeyRange => prefixRange(`v${SEP}${repo}${SEP}${tag}${SEP}`),
  /** Every indexed variant after the one named (repo, tag, digest). */
  variantsAfter: (after?: { repo: string; tag: string; digest: string }): KeyRange =>
    prefixRange(`v${SEP}`, after === undefined ? undefined : `${after.repo}${SEP}${after.tag}${SEP}${after.digest}`),
  variantTag: (repo: string, digest: string, tag: string) => `V${SEP}${repo}${SEP}${digest}${SEP}${tag}`,
  variantTags: (repo: string, digest: string): KeyRange => prefixRange(`V${SEP}${repo}${SEP}${digest}${SEP}`),
  posting: (feature: string, repo: string, tag: string, digest: string) => `x${SEP}${feature}${SEP}${repo}${SEP}${tag}${SEP}${digest}`,
  /** A feature's postings after the variant named (repo, tag, digest). */
  postings: (feature: string, after?: { repo: string; tag: string; digest: string }): KeyRange =>
    prefixRange(`x${SEP}${feature}${SEP}`, after === undefined ? undefined : `${after.repo}${SEP}${after.tag}${SEP}${after.digest}`),
  feature: (feature: string) => `X${SEP}${feature}`,
  /** Known features starting with `prefix`, after `after` (a whole feature). */
  features: (prefix = '', after?: string): KeyRange => {
    const range = prefixRange(`X${SEP}`, after);
    return { gt: after !== undefined && after >= prefix ? range.gt : `X${SEP}${prefix}`, lt: `X${SEP}${prefix}${END}` };
  },
  /** Whether a string can be a key field (features come from pushed JSON). */
  isKeyField: (value: string) => value !== '' && !value.includes(SEP) && !value.includes(END),

  upload: (id: string) => `u${SEP}${id}`,
  uploads: (): KeyRange => prefixRange(`u${SEP}`),

  event: (endpoint: string, seq: number, repo: string) => `e${SEP}${endpoint}${SEP}${seqField(seq)}${SEP}${repo}`,
  /** One endpoint's pending events from after the key `last` (a whole event key). */
  events: (endpoint: string, last?: string): KeyRange => fromKey(`e${SEP}${endpoint}${SEP}`, last),
  deadEvent: (endpoint: string, seq: number, repo: string) => `E${SEP}${endpoint}${SEP}${seqField(seq)}${SEP}${repo}`,
  deadEvents: (last?: string): KeyRange => fromKey(`E${SEP}`, last),
  /** Every pending and every dead event (the sequence is restarted above the highest). */
  allPendingEvents: (last?: string): KeyRange => fromKey(`e${SEP}`, last),
  isPendingEvent: (key: string) => key.startsWith(`e${SEP}`),
  /** One endpoint's dead events. */
  deadEventsOf: (endpoint: string): KeyRange => prefixRange(`E${SEP}${endpoint}${SEP}`),
  /** Pending (or dead) events of the endpoints after `after` (an endpoint id): each step of a scan for the queues. */
  eventQueues: (dead: boolean, after?: string): KeyRange => {
    const prefix = `${dead ? 'E' : 'e'}${SEP}`;
    return { gt: after === undefined ? prefix : `${prefix}${after}${SEP}${END}`, lt: prefix + END };
  },
  /** The fields of an `e` or `E` key. */
  eventOf: (key: string): { dead: boolean; endpoint: string; seq: number; repo: string } => {
    const [kind, endpoint = '', seq = '', repo = ''] = key.split(SEP);
    return { dead: kind === 'E', endpoint, seq: parseInt(seq, 16), repo };
  },

  bootJob: (seq: number) => `a${SEP}${seqField(seq)}`,
  /** The boot queue in order, from after the key `last` (a whole boot-job key). */
  bootJobs: (last?: string): KeyRange => fromKey(`a${SEP}`, last),
  isBootJob: (key: string) => key.startsWith(`a${SEP}`) && key.length === 2 + 16,
  seqOfBootJob: (key: string) => parseInt(key.slice(2), 16),

  /** Every key of one kind (`l`, `m`, `r`, `u`...), across all repositories: start-up counts (src/metrics/stored.ts). */
  ofKind: (kind: string, after?: string): KeyRange => prefixRange(`${kind}${SEP}`, after),
  /** Every key of the store (a full scan, for offline verification). */
  all: (after?: string): KeyRange => ({ gt: after ?? '', lt: END }),
  /** A key's kind letter and its fields; the last field of l/m/t/u keys is the digest, tag or id. */
  parse: (key: string): { kind: string; fields: string[] } => {
    const [kind = '', ...fields] = key.split(SEP);
    return { kind, fields };
  },
  /** A key with its separators shown, for reports. */
  printable: (key: string) => key.split(SEP).join(' '),
};
