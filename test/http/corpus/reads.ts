/**
 * Reads and deletes with hostile names, digests, references, ranges and paging:
 * blobs, manifests, tags, catalog, referrers, unknown routes and methods.
 */
import type { Rng } from './rng.js';
import type { CorpusRequest, Fixture } from './types.js';
import { anyDigest, anyName, anyTag, badDigest, BAD_NAMES, pageLast, pageN, pathSafe, q } from './values.js';

function req(kind: string, method: string, path: string, headers: Record<string, string> = {}): CorpusRequest {
  return { kind, method, path: pathSafe(path), headers };
}

/** A blob GET/HEAD with a Range header of any shape. */
export function blobRange(rng: Rng, fx: Fixture): CorpusRequest {
  const repo = rng.chance(0.7) ? fx.refRepo : anyName(rng, fx);
  const digest = rng.chance(0.7) ? rng.pick([...fx.refBlobs, ...fx.workBlobs]) : anyDigest(rng, fx);
  const n = rng.int(2000);
  const range = rng.pick([
    `bytes=0-${n}`, `bytes=${n}-`, `bytes=-${n}`, 'bytes=-0', `bytes=${n + 5}-${n}`, 'bytes=99999999999999999999-',
    'bytes=-99999999999999999999', `bytes=0-99999999999999999999`, 'bytes=0-1,2-3', 'items=0-1', 'bytes=', 'bytes=-',
    'bytes=1e3-', 'bytes= 1-2', `bytes=${n}`, 'bytes=0x10-', 'bytes=--1', 'bytes=1-2-3', `bytes=${'9'.repeat(400)}-`,
  ]);
  const headers: Record<string, string> = { Range: range };
  if (rng.chance(0.2)) headers['If-None-Match'] = rng.pick(['"x"', `"${digest}"`, '*', 'W/"a"']);
  return req('blob-range', rng.pick(['GET', 'GET', 'HEAD']), `/v2/${repo}/blobs/${digest}`, headers);
}

/** Blob GET/HEAD/DELETE on any name and digest (DELETE never on the reference repository). */
export function blobOp(rng: Rng, fx: Fixture): CorpusRequest {
  const method = rng.pick(['GET', 'HEAD', 'DELETE']);
  const repo = method === 'DELETE' ? anyName(rng, fx, false) : anyName(rng, fx);
  let digest = anyDigest(rng, fx);
  // The reference repository is never changed; the work repository keeps what later requests build on.
  if (method === 'DELETE' && (repo === fx.refRepo || digest === fx.kernelBlob)) digest = badDigest(rng);
  return req('blob', method, `/v2/${repo}/blobs/${digest}`);
}

/** Manifest GET/HEAD by tag or digest, with odd Accept headers; DELETE outside the reference repository. */
export function manifestRead(rng: Rng, fx: Fixture): CorpusRequest {
  const method = rng.pick(['GET', 'GET', 'HEAD', 'DELETE']);
  const repo = method === 'DELETE' ? rng.pick([fx.workRepo, 'corpus/unknown', ...BAD_NAMES.slice(0, 4)]) : anyName(rng, fx);
  const ref = rng.chance(0.5) ? anyTag(rng, fx) : anyDigest(rng, fx);
  const headers: Record<string, string> = {};
  if (rng.chance(0.5)) {
    headers.Accept = rng.pick(['*/*', 'application/json', 'text/html', '', 'application/vnd.oci.image.index.v1+json;q=0', 'x/y, */*;q=0.1', ',,,']);
  }
  const kept = [fx.workManifest, fx.ukIndex, fx.ukManifest, fx.subject, fx.ukTag];
  const protectedRef = method === 'DELETE' && kept.includes(ref);
  return req('manifest-read', method, `/v2/${repo}/manifests/${protectedRef ? badDigest(rng) : ref}`, headers);
}

export function tagsList(rng: Rng, fx: Fixture): CorpusRequest {
  const params: string[] = [];
  if (rng.chance(0.8)) params.push(`n=${pageN(rng)}`);
  if (rng.chance(0.6)) params.push(`last=${q(pageLast(rng, fx))}`);
  if (rng.chance(0.1)) params.push(`n=${pageN(rng)}`);
  return req('tags', 'GET', `/v2/${anyName(rng, fx)}/tags/list${params.length ? `?${params.join('&')}` : ''}`);
}

export function catalog(rng: Rng, fx: Fixture): CorpusRequest {
  const params: string[] = [];
  if (rng.chance(0.8)) params.push(`n=${pageN(rng)}`);
  if (rng.chance(0.6)) params.push(`last=${rng.chance(0.5) ? q(pageLast(rng, fx)) : pageLast(rng, fx)}`);
  return req('catalog', 'GET', `/v2/_catalog${params.length ? `?${params.join('&')}` : ''}`);
}

export function referrers(rng: Rng, fx: Fixture): CorpusRequest {
  const params: string[] = [];
  if (rng.chance(0.7)) {
    const type = rng.pick(['application/vnd.example.sig', 'application/vnd.example.sbom', '', 'x', '%00', 'a'.repeat(5000), 'ü/ü', 'a=b&c']);
    params.push(`artifactType=${q(type)}`);
    if (rng.chance(0.2)) params.push(`artifactType=${q(type)}x`);
  }
  if (rng.chance(0.4)) params.push(`n=${pageN(rng)}`);
  if (rng.chance(0.3)) params.push(`last=${q(rng.chance(0.5) ? anyDigest(rng, fx) : pageLast(rng, fx))}`);
  const subject = rng.chance(0.5) ? fx.subject : anyDigest(rng, fx);
  const repo = rng.chance(0.6) ? fx.workRepo : anyName(rng, fx);
  return req('referrers', 'GET', `/v2/${repo}/referrers/${subject}${params.length ? `?${params.join('&')}` : ''}`);
}

/** Paths no route serves, odd methods on real routes. */
export function strayRequest(rng: Rng, fx: Fixture): CorpusRequest {
  const path = rng.pick([
    '/v2', '/v2/', '/v2//', '/v3/', '/', '/v2/_catalog/x', `/v2/${fx.workRepo}`, `/v2/${fx.workRepo}/`, `/v2/${fx.workRepo}/blobs/`,
    `/v2/${fx.workRepo}/manifests/`, `/v2/${fx.workRepo}/tags`, `/v2/${fx.workRepo}/referrers/`, `/v2/${fx.workRepo}/_unikraft/`,
    `/v2/${fx.workRepo}/blobs/uploads`, '/v2/%', '/v2/%zz/tags/list', '/auth/token?scope=%zz', '/%2e%2e/%2e%2e/etc/passwd',
    `/v2/${fx.workRepo}/manifests/latest/extra`, `/v2/${'a/'.repeat(2000)}tags/list`, '/v2/?%', '/v2/#x',
  ]);
  const method = rng.pick(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'TRACE']);
  return req('stray', method, path, method === 'GET' || method === 'HEAD' ? {} : { 'Content-Length': '0' });
}
