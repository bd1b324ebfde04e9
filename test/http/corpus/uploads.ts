/**
 * Upload sessions: POST with `?digest=`, `?mount=&from=`, PATCH with any
 * Content-Range, closing PUTs with any digest, session ids that are not ours,
 * sessions addressed under another repository.
 */
import type { Rng } from './rng.js';
import type { CorpusRequest, Fixture } from './types.js';
import { anyDigest, anyName, badDigest, BAD_NAMES, digestOf, pathSafe, q } from './values.js';

function contentRange(rng: Rng, prefill: number, length: number): string | undefined {
  const end = prefill + length - 1;
  return rng.pick([
    undefined, `${prefill}-${end}`, `${prefill}-${end}`, `${prefill + 1}-${end + 1}`, `0-${end}`, `${prefill}-${end + 5}`,
    `${end}-${prefill}`, `bytes ${prefill}-${end}/*`, `bytes=${prefill}-${end}`, `${prefill}-${end}/${end + 1}`, 'abc', '-5', '5-',
    `${prefill}-99999999999999999999`, `${'9'.repeat(30)}-${'9'.repeat(31)}`, '0-0', '', ' ', `${prefill}--${end}`,
  ]);
}

export function uploadStart(rng: Rng, fx: Fixture): CorpusRequest {
  const repo = rng.chance(0.8) ? rng.pick([fx.workRepo, 'corpus/uploads']) : anyName(rng, fx, false);
  const data = rng.bytes(rng.int(600));
  const kind = rng.int(5);
  let query = '';
  let body: Buffer | undefined;
  if (kind === 0) {
    query = `?digest=${q(rng.chance(0.4) ? digestOf(data) : anyDigest(rng, fx))}`;
    body = data;
  } else if (kind === 1) {
    const from = rng.pick([fx.refRepo, fx.workRepo, 'corpus/unknown', ...BAD_NAMES.slice(0, 6), '']);
    query = `?mount=${q(rng.chance(0.6) ? rng.pick(fx.refBlobs) : anyDigest(rng, fx))}${rng.chance(0.8) ? `&from=${q(from)}` : ''}`;
  } else if (kind === 2) {
    query = rng.pick(['?mount=', '?from=x', '?digest=', '?mount=a&mount=b', '?digest=a&mount=b', `?mount=${q(fx.refBlobs[0]!)}&from=${q(fx.refRepo)}&digest=x`]);
  }
  const headers: Record<string, string> = {};
  if (body !== undefined && rng.chance(0.3)) headers['Content-Type'] = rng.pick(['application/octet-stream', 'text/plain', '']);
  return { kind: 'upload-start', method: 'POST', path: pathSafe(`/v2/${repo}/blobs/uploads/`) + query, headers, body, chunked: rng.chance(0.2) };
}

/** PATCH, PUT, GET or DELETE on a fresh session (possibly prefilled), with odd ranges and digests. */
export function uploadSession(rng: Rng, fx: Fixture): CorpusRequest {
  const repo = rng.pick([fx.workRepo, 'corpus/uploads']);
  const prefill = rng.pick([0, 0, 10, 100]);
  const data = rng.bytes(rng.int(800));
  const method = rng.pick(['PATCH', 'PATCH', 'PATCH', 'PUT', 'PUT', 'GET', 'DELETE']);
  const headers: Record<string, string> = {};
  let query = '';
  let body: Buffer | undefined;
  if (method === 'PATCH' || method === 'PUT') {
    body = rng.chance(0.9) ? data : undefined;
    const range = contentRange(rng, prefill, data.length);
    if (range !== undefined && body !== undefined) headers['Content-Range'] = range;
    if (rng.chance(0.3)) headers['Content-Type'] = rng.pick(['application/octet-stream', 'text/plain', 'multipart/form-data']);
  }
  if (method === 'PUT') {
    const digest = rng.pick(['', anyDigest(rng, fx), badDigest(rng), `sha256:${rng.hex(64)}`]);
    query = rng.pick([`?digest=${q(digest)}`, `?digest=${q(digest)}`, '', '?digest=', `?digest=${q(digest)}&digest=x`]);
  }
  // The session's path, sometimes under another repository's name.
  const swap = rng.chance(0.15) ? rng.pick([fx.refRepo, 'corpus/other', ...BAD_NAMES.slice(0, 3)]) : undefined;
  return {
    kind: `upload-${method.toLowerCase()}${swap ? ` as ${swap}` : ''}`,
    method,
    path: `{session}${query}`,
    headers,
    body,
    chunked: rng.chance(0.2),
    session: { repo, prefill, ...(swap === undefined ? {} : { as: swap }) },
  };
}

/** Session ids that were never handed out. */
export function uploadStray(rng: Rng, fx: Fixture): CorpusRequest {
  const id = rng.pick([
    '00000000-0000-0000-0000-000000000000', `${rng.hex(8)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(12)}`, '..', '%2e%2e',
    'x'.repeat(300), '0', 'ABCDEF00-0000-0000-0000-000000000000', '%00', 'a b', '..%2f..%2fmeta',
  ]);
  const method = rng.pick(['GET', 'PATCH', 'PUT', 'DELETE']);
  const query = method === 'PUT' ? `?digest=${q(anyDigest(rng, fx))}` : '';
  return {
    kind: 'upload-stray',
    method,
    path: pathSafe(`/v2/${rng.chance(0.7) ? fx.workRepo : anyName(rng, fx, false)}/blobs/uploads/${id}`) + query,
    headers: method === 'PATCH' || method === 'PUT' ? { 'Content-Range': '0-3' } : {},
    body: method === 'PATCH' || method === 'PUT' ? Buffer.from('abcd') : undefined,
  };
}
