/**
 * Helpers for tests of authentication: credentials, tokens from the token
 * endpoint, pushes that carry an Authorization header, and a log capture to
 * prove secrets never reach the logs.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { pino, type Logger } from 'pino';
import { MT, bin, buildImage, randomBlob, randomConfig, sha256, withQuery, type Image } from './oci.js';

export const PASSWORD = 'correct horse battery staple';
/** Cost 4: tests need bcrypt's behaviour, not its slowness. */
export const HASH = bcrypt.hashSync(PASSWORD, 4);

export function basic(user: string, password = PASSWORD): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** The claims of a JWT, unverified. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A token from the server's own token endpoint (`user` undefined: anonymous). */
export async function tokenFor(base: string, user: string | undefined, scopes: string[], password = PASSWORD): Promise<string> {
  const query = new URLSearchParams({ service: 'unireg' });
  for (const s of scopes) query.append('scope', s);
  const res = await fetch(`${base}/auth/token?${query}`, { headers: user ? { Authorization: basic(user, password) } : {} });
  const text = await res.text();
  assert.equal(res.status, 200, `token for ${user ?? 'anonymous'}: ${text}`);
  const body = JSON.parse(text) as { token: string; access_token: string };
  assert.equal(body.token, body.access_token);
  return body.token;
}

/** Monolithic blob upload with `authorization`; returns the response of the POST. */
export function postBlob(base: string, repo: string, data: Buffer, authorization?: string): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (authorization) headers.Authorization = authorization;
  return fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', headers, body: bin(data) });
}

/** Pushes a fresh one-layer image by `tag` with `authorization`, asserting each step; returns it. */
export async function pushImageAs(base: string, repo: string, tag: string, authorization: string | undefined): Promise<Image> {
  const image = buildImage(randomConfig(), [randomBlob(200)]);
  for (const blob of [image.config, ...image.layers]) {
    const res = await postBlob(base, repo, blob, authorization);
    assert.equal(res.status, 201, `blob push to ${repo}: ${await res.text()}`);
  }
  const headers: Record<string, string> = { 'Content-Type': MT.ociManifest };
  if (authorization) headers.Authorization = authorization;
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers, body: bin(image.bytes) });
  assert.equal(res.status, 201, `manifest push to ${repo}: ${await res.text()}`);
  return image;
}

/** Starts a chunked upload session (POST) with `authorization`; returns the Location. */
export async function startUpload(base: string, repo: string, authorization?: string): Promise<Response> {
  return fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: authorization ? { Authorization: authorization } : {} });
}

export { withQuery };

export interface LogCapture {
  logger: Logger;
  /** Everything logged so far. */
  text(): string;
}

/** A pino logger at `debug` writing into memory. */
export function captureLogs(): LogCapture {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => chunks.join('') };
}
