/**
 * The unikernel endpoints: multipart and JSON packs with fields of any value and
 * type (and malformed multipart), the variants listing and kconfig-filtered
 * manifest GETs with any filter and paging values. Packs never target the
 * reference repository.
 */
import type { Rng } from './rng.js';
import type { CorpusRequest, Fixture } from './types.js';
import { anyDigest, anyName, anyTag, BAD_NAMES, badDigest, badTag, deepLevels, nestedJson, pageLast, pageN, pathSafe, q, wrongValue } from './values.js';

const ARCHES = ['x86_64', 'amd64', 'arm64', 'aarch64', 'arm', 'riscv64', 'bogus', '', 'X86_64', ' x86_64 ', 'ü', 'a'.repeat(3000)];
const PLATS = ['qemu', 'kvm', 'fc', 'firecracker', 'xen', 'bogus', '', 'QEMU', '%00', 'b'.repeat(3000)];
const KCONFIG = [
  'CONFIG_HZ=100', 'CONFIG_HZ', 'CONFIG_PLAT_KVM=y', '=', 'CONFIG_', '!!', '=y', 'CONFIG_A=b=c', 'ü=ü', '%00', '', ' ', 'C'.repeat(5000),
  'CONFIG_HZ=100,CONFIG_X=y', 'config_hz=100', '*',
];
const DOT_CONFIGS = [
  'CONFIG_UK_FULLVERSION="0.18.0"\nCONFIG_HZ=100\n# CONFIG_X is not set\n', 'garbage line\n', 'CONFIG_A="unterminated\n', 'CONFIG_\n', '=\n',
  '\u0000\u0001\u0002', `CONFIG_LONG=${'x'.repeat(70_000)}\n`, 'CONFIG_OK=y\r\nCONFIG_CRLF=y\r\n', `${'CONFIG_A=y\n'.repeat(5000)}`, '',
];

function field(rng: Rng, pool: readonly string[]): string {
  return rng.pick(pool);
}

function filterQuery(rng: Rng): string[] {
  const params: string[] = [];
  if (rng.chance(0.6)) params.push(`arch=${q(field(rng, ARCHES))}`);
  if (rng.chance(0.5)) params.push(`plat=${q(field(rng, PLATS))}`);
  for (let i = rng.pick([0, 0, 1, 1, 2, 5]); i > 0; i--) params.push(`kconfig=${q(field(rng, KCONFIG))}`);
  if (rng.chance(0.05)) params.push('kconfig', 'arch', 'plat=%ff');
  return params;
}

/** GET/HEAD of a manifest with `?arch=&plat=&kconfig=`. */
export function filteredGet(rng: Rng, fx: Fixture): CorpusRequest {
  const repo = rng.chance(0.8) ? rng.pick([fx.workRepo, fx.refRepo]) : anyName(rng, fx);
  const ref = rng.chance(0.6) ? rng.pick([fx.ukTag, fx.ukIndex, fx.ukManifest, fx.refTag, fx.workManifest]) : rng.chance(0.5) ? anyTag(rng, fx) : anyDigest(rng, fx);
  const params = filterQuery(rng);
  return { kind: 'filtered-get', method: rng.pick(['GET', 'GET', 'HEAD']), path: pathSafe(`/v2/${repo}/manifests/${ref}`) + (params.length ? `?${params.join('&')}` : ''), headers: {} };
}

export function variantsListing(rng: Rng, fx: Fixture): CorpusRequest {
  const repo = rng.chance(0.7) ? rng.pick([fx.workRepo, fx.refRepo]) : anyName(rng, fx);
  const params = filterQuery(rng);
  if (rng.chance(0.4)) params.push(`tag=${q(rng.chance(0.5) ? rng.pick([fx.ukTag, fx.refTag]) : rng.chance(0.5) ? anyTag(rng, fx) : badTag(rng))}`);
  if (rng.chance(0.4)) params.push(`n=${pageN(rng)}`);
  if (rng.chance(0.3)) params.push(`last=${q(pageLast(rng, fx))}`);
  return { kind: 'variants', method: 'GET', path: pathSafe(`/v2/${repo}/_unikraft/variants`) + (params.length ? `?${params.join('&')}` : ''), headers: {} };
}

interface Part {
  name?: string;
  filename?: string;
  data: Buffer;
}

function multipartBody(rng: Rng, parts: Part[], boundary: string): { body: Buffer; mutation: string } {
  const chunks: Buffer[] = [];
  let mutation = '';
  for (const p of parts) {
    let disposition = 'form-data';
    if (p.name !== undefined) disposition += `; name="${p.name}"`;
    if (p.filename !== undefined) disposition += `; filename="${p.filename}"`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`), p.data, Buffer.from('\r\n'));
  }
  const end = rng.int(20);
  if (end === 0) mutation = 'no closing boundary';
  else if (end === 1) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="kernel"; filename="k"\r\n\r\npartial`));
    mutation = 'cut in a part';
  } else chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), mutation };
}

/** A valid multipart pack, then 0 to 3 changes: fields with odd values, parts missing, repeated or unknown. */
function multipartPack(rng: Rng, fx: Fixture): CorpusRequest {
  const fields = new Map<string, string[]>([
    ['tag', [`p${rng.int(20)}`]],
    ['arch', [rng.pick(['x86_64', 'arm64'])]],
    ['plat', [rng.pick(['qemu', 'fc'])]],
  ]);
  const files: Part[] = [{ name: 'kernel', filename: 'kernel', data: rng.bytes(rng.pick([512, 700, 2000])) }];
  const changes: (() => void)[] = [
    () => fields.set('tag', [rng.chance(0.5) ? rng.pick(['v1', 'latest', fx.ukTag]) : badTag(rng)]),
    () => fields.set('arch', [field(rng, ARCHES)]),
    () => fields.set('plat', [field(rng, PLATS)]),
    () => fields.delete(rng.pick(['tag', 'arch', 'plat'])),
    () => fields.set('version', [rng.pick(['0.18.0', '', 'ü', 'v'.repeat(2000)])]),
    () => fields.set('strategy', [rng.pick(['merge', 'overwrite', 'abort', 'bogus', ''])]),
    () => fields.set('cmd', Array.from({ length: rng.pick([1, 3, 400]) }, () => rng.pick(['-v', '', 'x'.repeat(1000), '\u0000']))),
    () => fields.set('env', [rng.pick(['A=1', 'bad', '=x', '', 'A==', ' A=1'])]),
    () => fields.set('label', [rng.pick(['a=b', 'nokey', '=v', '', 'a=', 'ü=ü'])]),
    () => fields.set('kconfig', [rng.pick(DOT_CONFIGS)]),
    () => files.push({ name: 'kconfig', filename: '.config', data: Buffer.from(rng.pick(DOT_CONFIGS)) }),
    () => files.splice(0, 1, { name: 'kernel', filename: 'kernel', data: rng.bytes(rng.pick([0, 1, 511])) }),
    () => files.splice(0, 1),
    () => files.push({ name: 'kernel', filename: 'kernel2', data: rng.bytes(100) }),
    () => files.push({ name: 'initrd', filename: 'initrd', data: rng.bytes(rng.int(700)) }),
    () => files.push({ name: rng.pick(['unknown', '', 'kernel"; x="y', 'ü']), filename: rng.pick(['f', '']), data: rng.bytes(50) }),
    () => files.push({ data: Buffer.from('nameless') }),
  ];
  for (let i = rng.pick([0, 1, 1, 2, 3]); i > 0; i--) rng.pick(changes)();
  const parts: Part[] = [];
  for (const [name, values] of fields) for (const v of values) parts.push({ name, data: Buffer.from(v) });
  parts.push(...files);
  const boundary = `b${rng.hex(16)}`;
  const { body, mutation } = multipartBody(rng, parts, boundary);
  const type = rng.chance(0.85)
    ? `multipart/form-data; boundary=${boundary}`
    : rng.pick(['multipart/form-data', 'multipart/form-data; boundary=other', `multipart/form-data; boundary="${boundary}"`, `multipart/mixed; boundary=${boundary}`]);
  const repo = rng.chance(0.85) ? rng.pick([fx.workRepo, 'corpus/pack']) : rng.pick(BAD_NAMES);
  return {
    kind: `pack-multipart${mutation ? ` (${mutation})` : ''}`,
    method: 'POST',
    path: pathSafe(`/v2/${repo}/_unikraft/pack`),
    headers: { 'Content-Type': type },
    body,
    chunked: rng.chance(0.2),
  };
}

/** A valid JSON pack, then 0 to 3 of its fields replaced by any value (often of the wrong type) or added. */
function jsonPack(rng: Rng, fx: Fixture): CorpusRequest {
  const b: Record<string, unknown> = {
    tag: `j${rng.int(20)}`,
    arch: rng.pick(['x86_64', 'arm64']),
    plat: rng.pick(['qemu', 'fc']),
    kernel: fx.kernelBlob,
  };
  const candidates: [string, () => unknown][] = [
    ['tag', () => (rng.chance(0.5) ? rng.pick(['v1', 'latest', fx.ukTag]) : badTag(rng))],
    ['arch', () => field(rng, ARCHES)],
    ['plat', () => field(rng, PLATS)],
    ['version', () => rng.pick(['0.18.0', '', 'ü'])],
    ['strategy', () => rng.pick(['merge', 'overwrite', 'abort', 'bogus'])],
    ['kernel', () => (rng.chance(0.5) ? badDigest(rng) : anyDigest(rng, fx))],
    ['initrd', () => (rng.chance(0.5) ? fx.kernelBlob : badDigest(rng))],
    ['kconfig', () => rng.pick(DOT_CONFIGS)],
    ['cmd', () => rng.pick<unknown>(['-v', ['-a', '-b'], []])],
    ['env', () => rng.pick<unknown>(['A=1', ['A=1', 'bad'], []])],
  ];
  const labelField: [string, () => unknown] = [
    rng.chance(0.8) ? 'labels' : 'label',
    () => (rng.chance(0.5) ? { a: 'b', c: wrongValue(rng) } : rng.pick<unknown>([{ a: 'b' }, ['a=b'], 'a=b', { '': '' }, ['nokey']])),
  ];
  candidates.push(labelField, labelField, labelField);
  for (let i = rng.pick([0, 1, 1, 1, 2, 3]); i > 0; i--) {
    const [key, good] = rng.pick(candidates);
    if (rng.chance(0.1)) delete b[key];
    else b[key] = rng.chance(0.6) ? good() : wrongValue(rng);
  }
  const labels = b.labels ?? b.label;
  const badLabel = typeof labels === 'object' && labels !== null && !Array.isArray(labels) && Object.values(labels).some((v) => typeof v !== 'string');
  let text = JSON.stringify(b);
  let mutation = '';
  const r = rng.int(15);
  if (r === 0) {
    const levels = deepLevels(rng);
    text = text.replace(/}$/, `${text.length > 2 ? ',' : ''}"labels":${nestedJson(rng, levels)}}`);
    mutation = `labels ${levels} levels deep`;
  } else if (r === 1) {
    text = rng.pick(['', 'null', '[]', '"x"', '{', text.slice(0, rng.int(text.length)), '{"tag":"v1"}x', `{"a":${'1'.repeat(400)}}`]);
    mutation = 'not an object';
  }
  const headers: Record<string, string> = {};
  const type = rng.chance(0.8) ? 'application/json' : rng.pick(['application/json; charset=utf-8', 'text/plain', '', 'application/x-www-form-urlencoded']);
  if (type !== '') headers['Content-Type'] = type;
  const repo = rng.chance(0.85) ? rng.pick([fx.workRepo, 'corpus/pack']) : rng.pick(BAD_NAMES);
  return {
    kind: `pack-json${mutation ? ` (${mutation})` : ''}`,
    method: 'POST',
    path: pathSafe(`/v2/${repo}/_unikraft/pack`),
    headers,
    body: Buffer.from(text),
    ...(badLabel ? { mustRefuse: 'a label value is not a string' } : mutation.includes('deep') ? { mustRefuse: mutation } : {}),
  };
}

export function packRequest(rng: Rng, fx: Fixture): CorpusRequest {
  return rng.chance(0.5) ? multipartPack(rng, fx) : jsonPack(rng, fx);
}
