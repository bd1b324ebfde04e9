/**
 * Manifest PUTs: the fixture's valid manifest and unikernel index, mutated
 * (fields of the wrong type, platforms, annotations, deep nesting, truncation,
 * bad encodings), under good and bad references, content types and strategies.
 * Never aimed at the reference repository with anything that could succeed.
 */
import type { Rng } from './rng.js';
import type { CorpusRequest, Fixture } from './types.js';
import { anyTag, badDigest, BAD_NAMES, deepLevels, digestOf, nestedJson, pathSafe, q, wrongValue } from './values.js';

const CONTENT_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/json', '', 'text/plain', 'application/vnd.oci.image.index.v1+json; charset=utf-8', 'x', ';;;',
  'application/vnd.docker.distribution.manifest.v1+prettyjws', 'multipart/form-data; boundary=x',
];

type Json = Record<string, unknown>;

function descriptorsOf(doc: Json): Json[] {
  const descriptors: Json[] = [doc];
  if (Array.isArray(doc.manifests)) descriptors.push(...(doc.manifests as Json[]));
  if (doc.config && typeof doc.config === 'object') descriptors.push(doc.config as Json);
  if (Array.isArray(doc.layers)) descriptors.push(...(doc.layers as Json[]));
  return descriptors;
}

/** A path into the document (the object holding `key`) picked among the fields unireg reads. */
function targets(doc: Json): [Json, string][] {
  const out: [Json, string][] = [[doc, 'schemaVersion'], [doc, 'mediaType'], [doc, 'annotations'], [doc, 'subject'], [doc, 'artifactType']];
  const descriptors = descriptorsOf(doc).slice(1);
  out.push([doc, 'manifests'], [doc, 'config'], [doc, 'layers']);
  for (const d of descriptors) {
    if (typeof d !== 'object' || d === null) continue;
    for (const key of ['mediaType', 'digest', 'size', 'annotations', 'platform', 'urls', 'data', 'artifactType', 'x-extra']) out.push([d, key]);
    const platform = d.platform as Json | undefined;
    if (platform && typeof platform === 'object') {
      for (const key of ['architecture', 'os', 'os.version', 'os.features', 'variant']) out.push([platform, key]);
    }
    const annotations = d.annotations as Json | undefined;
    if (annotations && typeof annotations === 'object') out.push([annotations, Object.keys(annotations)[0] ?? 'k']);
  }
  return out;
}

/** A value replaced, once serialised, by deeply nested JSON. */
const DEEP = '__deep__';
const DEEP_TEXT = JSON.stringify(DEEP);

/** The body: a mutation of a valid document, or raw garbage. */
/** Platform fields the server reads, which must be strings. */
const PLATFORM_STRINGS = new Set(['architecture', 'os', 'os.version', 'variant']);

interface Body {
  bytes: Buffer;
  mutation: string;
  /** Set when no server may accept the body. */
  invalid?: string;
}

/**
 * Why the server must refuse `doc` for its platforms: a descriptor it parses has a
 * platform string field of another type. Only judged while `mediaType` is still the
 * original one (otherwise the server may read the document as the other kind).
 */
function badPlatform(doc: Json, mediaType: unknown): string | undefined {
  if (doc.mediaType !== mediaType) return undefined;
  const parsed: unknown[] = [];
  if (Array.isArray(doc.manifests)) parsed.push(...(doc.manifests as unknown[]));
  if (doc.config !== undefined) parsed.push(doc.config);
  if (Array.isArray(doc.layers)) parsed.push(...(doc.layers as unknown[]));
  for (const d of parsed) {
    const platform = (d as Json | null)?.platform as Json | undefined;
    if (typeof platform !== 'object' || platform === null) continue;
    for (const key of PLATFORM_STRINGS) {
      if (platform[key] !== undefined && typeof platform[key] !== 'string') return `platform ${key} is ${JSON.stringify(platform[key])}`;
    }
  }
  return undefined;
}

function body(rng: Rng, fx: Fixture): Body {
  const base = rng.chance(0.5) ? fx.ukIndexBytes : fx.workManifestBytes;
  const r = rng.int(20);
  if (r === 0) {
    const cut = rng.int(base.length);
    return { bytes: base.subarray(0, cut), mutation: `truncated at ${cut}` };
  }
  if (r === 1) {
    return rng.pick([
      { bytes: Buffer.from(''), mutation: 'empty' }, { bytes: Buffer.from('null'), mutation: 'null' }, { bytes: Buffer.from('[]'), mutation: 'array' },
      { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), base]), mutation: 'BOM' },
      { bytes: Buffer.concat([base.subarray(0, 20), Buffer.from([0xff, 0xfe, 0x80]), base.subarray(20)]), mutation: 'invalid UTF-8' },
      { bytes: Buffer.from(`{"schemaVersion":2,"schemaVersion":"2"}`), mutation: 'duplicate keys' },
      { bytes: Buffer.from(`${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`), mutation: 'object nested 200000 deep', invalid: 'it nests 200000 levels deep' },
      { bytes: Buffer.from(`{"schemaVersion":2,"manifests":[${'1,'.repeat(50_000)}1]}`), mutation: '50001 scalar manifests' },
      { bytes: Buffer.from(`{"schemaVersion":1e400}`), mutation: 'huge number' },
      { bytes: rng.bytes(rng.between(1, 3000)), mutation: 'random bytes' },
    ]);
  }
  const doc = JSON.parse(base.toString()) as Json;
  const edits: string[] = [];
  let invalid: string | undefined;
  // One body in ten is the valid document with an extension field (the merge and store paths run).
  if (r === 3 || r === 4) {
    const doc = JSON.parse(base.toString()) as Json;
    doc[`x-${rng.int(100)}`] = rng.pick<unknown>(['v', 1, [1, [2]], { a: { b: 'c' } }, null]);
    return { bytes: Buffer.from(JSON.stringify(doc)), mutation: 'valid, one extension field' };
  }
  // One body in twenty is valid but for one extension field nested too deep.
  const deepOnly = r === 2;
  for (let i = deepOnly ? 1 : rng.between(1, 3); i > 0; i--) {
    const [holder, key] = deepOnly ? [rng.pick(descriptorsOf(doc)), 'x-extra'] : rng.pick(targets(doc));
    const what = deepOnly ? 1 : rng.int(6);
    if (what === 0) {
      delete holder[key];
      edits.push(`delete ${key}`);
    } else if (what === 1) {
      holder[key] = DEEP;
      edits.push(`deep ${key}`);
    } else {
      holder[key] = wrongValue(rng);
      edits.push(`${key}=${JSON.stringify(holder[key])?.slice(0, 40)}`);
    }
  }
  invalid = badPlatform(doc, (JSON.parse(base.toString()) as Json).mediaType);
  let text = JSON.stringify(doc);
  if (text.includes(DEEP_TEXT)) {
    const levels = deepLevels(rng);
    text = text.split(DEEP_TEXT).join(nestedJson(rng, levels));
    edits.push(`${levels} levels`);
    invalid = `it nests ${levels} levels deep`;
  }
  return { bytes: Buffer.from(text), mutation: edits.join(', '), ...(invalid === undefined ? {} : { invalid }) };
}

export function manifestPut(rng: Rng, fx: Fixture): CorpusRequest {
  const { bytes, mutation, invalid } = body(rng, fx);
  // Mostly references and content types a client would send, so the body is what gets judged.
  const refKind = rng.int(10);
  let ref: string;
  if (refKind < 4) ref = digestOf(bytes);
  else if (refKind < 6) ref = rng.pick(['latest', 'v1', `t${rng.int(30)}`, fx.ukTag]);
  else if (refKind < 7) ref = anyTag(rng, fx);
  else if (refKind < 8) ref = `sha256:${rng.hex(64)}`;
  else ref = badDigest(rng);
  // Requests to the reference repository must not be able to succeed: a malformed reference.
  const where = rng.int(10);
  const repo = where === 0 ? fx.refRepo : where === 1 ? rng.pick(BAD_NAMES) : fx.workRepo;
  if (repo === fx.refRepo) ref = badDigest(rng);
  const headers: Record<string, string> = {};
  // The document's own media type (the first one is the top-level field, as the fixture writes it).
  const own = /"mediaType":"([^"]*)"/.exec(bytes.toString('latin1'))?.[1];
  const type = own !== undefined && rng.chance(0.5) ? own : rng.pick(CONTENT_TYPES);
  if (type !== '' || rng.chance(0.5)) headers['Content-Type'] = type;
  const strategy = rng.chance(0.3) ? `?strategy=${q(rng.pick(['merge', 'overwrite', 'abort', 'bogus', '', 'MERGE', '%00']))}` : '';
  return {
    kind: `manifest-put (${mutation})`,
    method: 'PUT',
    path: pathSafe(`/v2/${repo}/manifests/${ref}`) + strategy,
    headers,
    body: bytes,
    chunked: rng.chance(0.1),
    ...(invalid === undefined ? {} : { mustRefuse: invalid }),
  };
}
