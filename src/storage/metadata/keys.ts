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
