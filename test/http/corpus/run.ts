/**
 * Sends corpus requests to a real listening server (exact paths, headers and
 * framing through node:http) and judges each answer: below 500, and every error
 * the OCI JSON envelope with a known code.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import type { CorpusRequest } from './types.js';
import { pathSafe } from './values.js';

/** The error codes of the OCI Distribution Spec v1.1. */
export const SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];
/** Codes CNCF Distribution adds, which unireg uses too. */
export const DISTRIBUTION_CODES = ['RANGE_INVALID', 'PAGINATION_NUMBER_INVALID', 'TAG_INVALID'];
/** unireg's own: malformed request bodies, unknown routes, `strategy=abort` on an existing tag. */
export const UNIREG_CODES = ['BAD_REQUEST', 'NOT_FOUND', 'TAG_EXISTS'];
const KNOWN = new Set([...SPEC_CODES, ...DISTRIBUTION_CODES, ...UNIREG_CODES]);

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer, chunked = false): Promise<Answer> {
  const url = new URL(base);
  const h: Record<string, string> = { ...headers };
  if (body !== undefined && !chunked) h['Content-Length'] = String(body.length);
  if (body === undefined && method !== 'GET' && method !== 'HEAD') h['Content-Length'] = '0';
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined && chunked) {
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else {
      req.end(body);
    }
  });
}

/** What is wrong with an answer, or undefined when it is acceptable. */
export function judge(method: string, answer: Answer): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}`;
  if (answer.headers['docker-distribution-api-version'] !== 'registry/2.0') return 'no Docker-Distribution-Api-Version header';
  if (answer.status < 400 || method === 'HEAD') return undefined;
  if (!/^application\/json/.test(answer.headers['content-type'] ?? '')) return `error with Content-Type ${answer.headers['content-type']}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return 'error body is not JSON';
  }
  const errors = (parsed as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return 'error body has no errors list';
  for (const e of errors as { code?: unknown; message?: unknown }[]) {
    if (typeof e.code !== 'string' || !KNOWN.has(e.code)) return `unknown error code ${String(e.code)}`;
    if (typeof e.message !== 'string') return 'error without a message';
  }
  return undefined;
}

export interface Outcome {
  request: CorpusRequest;
  /** The path actually sent (sessions filled in). */
  path: string;
  answer: Answer;
  problem?: string;
}

/** Opens (and prefills) the upload session a request needs; the setup answers are judged too. */
async function sessionPath(base: string, r: CorpusRequest, outcomes: Outcome[]): Promise<string> {
  const { repo, prefill, as } = r.session!;
  const post = await send(base, 'POST', `/v2/${repo}/blobs/uploads/`, {});
  outcomes.push({ request: { ...r, kind: `${r.kind} [open session]` }, path: `/v2/${repo}/blobs/uploads/`, answer: post, problem: judge('POST', post) });
  let location = String(post.headers.location ?? `/v2/${repo}/blobs/uploads/none`);
  if (prefill > 0) {
    const patch = await send(base, 'PATCH', location, { 'Content-Range': `0-${prefill - 1}` }, Buffer.alloc(prefill, 7));
    outcomes.push({ request: { ...r, kind: `${r.kind} [prefill]` }, path: location, answer: patch, problem: judge('PATCH', patch) });
    location = String(patch.headers.location ?? location);
  }
  if (as !== undefined) location = location.replace(`/v2/${repo}/`, pathSafe(`/v2/${as}/`));
  return location;
}

/** Runs the requests in order; every answer (session setup included) with its judgement. */
export async function runCorpus(base: string, requests: readonly CorpusRequest[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const r of requests) {
    let path = r.path;
    if (r.session) path = path.replace('{session}', await sessionPath(base, r, outcomes));
    let answer: Answer;
    try {
      answer = await send(base, r.method, path, r.headers, r.body, r.chunked);
    } catch (err) {
      // An answer the client cannot parse (or none) is as wrong as a 500.
      const failed: Answer = { status: 0, headers: {}, body: Buffer.from(String(err)) };
      outcomes.push({ request: r, path, answer: failed, problem: `no valid HTTP answer: ${(err as Error).message}` });
      continue;
    }
    const accepted = r.mustRefuse !== undefined && answer.status < 400 ? `accepted although ${r.mustRefuse}` : undefined;
    outcomes.push({ request: r, path, answer, problem: judge(r.method, answer) ?? accepted });
  }
  return outcomes;
}

/** One line per failure, for the assertion message. */
export function describeFailure(o: Outcome): string {
  const body = o.request.body === undefined ? '' : ` body(${o.request.body.length})=${JSON.stringify(o.request.body.subarray(0, 160).toString('latin1'))}`;
  return `${o.problem}: [${o.request.kind}] ${o.request.method} ${o.path.slice(0, 200)} ${JSON.stringify(o.request.headers).slice(0, 200)}${body} -> ${o.answer.status} ${o.answer.body.subarray(0, 200).toString()}`;
}
