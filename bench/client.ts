/**
 * The benchmark's HTTP client, on node:http: small control requests, blob
 * pushes (one streamed PATCH, or fixed-size chunks with Content-Range) and a
 * blob pull that counts and discards the body. Any unexpected answer throws a
 * RequestFailed naming the request and the response.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';

export class RequestFailed extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: string,
    expected: number[],
  ) {
    super(
      `${method} ${url} -> ${status} (expected ${expected.join('|')})\n` +
        `  response headers: ${JSON.stringify(headers)}\n  response body: ${body.slice(0, 1000) || '(empty)'}`,
    );
  }
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes received when the body was discarded instead of kept. */
  bytes: number;
}

export interface RequestOptions {
  headers?: Record<string, string | number>;
  /** Sent in order, waiting for 'drain' between slices; Content-Length must be set by the caller. */
  body?: Buffer | Buffer[];
  expect: number[];
  /** Count the body and throw it away (for blob pulls). */
  discard?: boolean;
  agent?: http.Agent;
}

/** One agent with keep-alive for everything but the load phases. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** Large socket buffers so that the client never waits on small writes or reads. */
const HIGH_WATER = 64 << 20;

export function request(method: string, url: string, opts: RequestOptions): Promise<Response> {
  const u = new URL(url);
  // `highWaterMark` (socket buffer sizes) is in Node 20's http.request but not in its type definitions.
  const options: http.RequestOptions & { highWaterMark: number } = {
    host: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method,
    headers: opts.headers,
    agent: opts.agent ?? agent,
    highWaterMark: HIGH_WATER,
  };
  return new Promise((ok, fail) => {
    const req = http.request(
      options,
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        const keep = !opts.discard || !opts.expect.includes(res.statusCode ?? 0);
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (keep) chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (!opts.expect.includes(status)) {
            fail(new RequestFailed(method, url, status, res.headers, body.toString('utf8'), opts.expect));
          } else ok({ status, headers: res.headers, body, bytes });
        });
      },
    );
    req.on('error', (err) => fail(new Error(`${method} ${url}: ${err.message}`)));
    const slices = opts.body === undefined ? [] : Array.isArray(opts.body) ? opts.body : [opts.body];
    let i = 0;
    const pump = (): void => {
      while (i < slices.length) {
        if (!req.write(slices[i++]!)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

export function location(res: Response, base: string): string {
  const loc = res.headers.location;
  if (!loc) throw new Error(`response ${res.status} has no Location header`);
  return new URL(loc, base).toString();
}

export function withDigest(url: string, digest: string): string {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/**
 * Deterministic, incompressible blob data (AES-256-CTR keystream with a fixed
 * key). Each `variant(k)` rewrites the last 16 bytes in place, so every push
 * sends a distinct blob without regenerating or rehashing the whole buffer.
 */
export class BlobData {
  readonly buf: Buffer;
  private readonly prefix: Hash;
  static readonly TAIL = 16;

  constructor(readonly size: number) {
    if (size < 1 << 20) throw new Error('blob size must be at least 1 MiB');
    this.buf = Buffer.allocUnsafe(size);
    const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 0x5a), Buffer.alloc(16, 0));
    const zeros = Buffer.alloc(16 << 20);
    for (let off = 0; off < size; off += zeros.length) {
      const block = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - off)));
      block.copy(this.buf, off);
    }
    this.prefix = createHash('sha256');
    for (let off = 0; off < size - BlobData.TAIL; off += 16 << 20) {
      this.prefix.update(this.buf.subarray(off, Math.min(off + (16 << 20), size - BlobData.TAIL)));
    }
  }

  /** The last bytes of variant k. */
  static tailOf(k: number): Buffer {
    const tail = Buffer.alloc(BlobData.TAIL, 0x20);
    tail.write(`unireg-bench-${k}`.slice(0, BlobData.TAIL));
    return tail;
  }

  /** Makes `buf` hold variant k and returns its digest. */
  variant(k: number): string {
    const tail = BlobData.tailOf(k);
    tail.copy(this.buf, this.size - BlobData.TAIL);
    return `sha256:${this.prefix.copy().update(tail).digest('hex')}`;
  }

  slices(size: number): Buffer[] {
    const out: Buffer[] = [];
    for (let off = 0; off < this.size; off += size) out.push(this.buf.subarray(off, Math.min(off + size, this.size)));
    return out;
  }
}

const OCTETS = 'application/octet-stream';

export async function startUpload(base: string, repo: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request('POST', `${base}/v2/${repo}/blobs/uploads/`, {
    headers: { ...headers, 'Content-Length': 0 },
    expect: [202],
  });
  return location(res, base);
}

async function closeUpload(loc: string, digest: string): Promise<void> {
  const res = await request('PUT', withDigest(loc, digest), { headers: { 'Content-Length': 0 }, expect: [201] });
  const got = res.headers['docker-content-digest'];
  if (got !== undefined && got !== digest) throw new Error(`PUT ${loc}: Docker-Content-Digest ${got}, expected ${digest}`);
}

/** POST, then (timed) one PATCH with the whole blob and the closing PUT. Returns seconds. */
export async function pushStreamed(base: string, repo: string, data: BlobData, digest: string): Promise<number> {
  let loc = await startUpload(base, repo);
  const t0 = process.hrtime.bigint();
  const res = await request('PATCH', loc, {
    headers: { 'Content-Type': OCTETS, 'Content-Length': data.size },
    body: data.slices(16 << 20),
    expect: [202],
  });
  loc = location(res, base);
  await closeUpload(loc, digest);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** POST, then (timed) one PATCH per chunk with Content-Range, following Location, and the closing PUT. */
export async function pushChunked(
  base: string,
  repo: string,
  data: BlobData,
  digest: string,
  chunkSize: number,
): Promise<number> {
  let loc = await startUpload(base, repo);
  const t0 = process.hrtime.bigint();
  let start = 0;
  for (const chunk of data.slices(chunkSize)) {
    const end = start + chunk.length - 1;
    const res = await request('PATCH', loc, {
      headers: { 'Content-Type': OCTETS, 'Content-Length': chunk.length, 'Content-Range': `${start}-${end}` },
      body: chunk,
      expect: [202],
    });
    loc = location(res, base);
    start = end + 1;
  }
  await closeUpload(loc, digest);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export interface PullResult {
  seconds: number;
  /** CPU seconds used by curl. */
  clientCpu: number;
}

/**
 * GET the blob with curl into /dev/null (node:http spends 1.5–4.5 CPU s per GiB
 * reading a socket on this machine, curl about 0.4 s). Time is curl's own
 * time_total; its CPU comes from the shell's `times`.
 */
export async function pullBlob(base: string, repo: string, digest: string, size: number): Promise<PullResult> {
  const url = `${base}/v2/${repo}/blobs/${digest}`;
  const script = 'curl -sS -o /dev/null -w "%{http_code} %{size_download} %{time_total} %header{docker-content-digest}\\n" "$1"; rc=$?; times; exit $rc';
  const out = await new Promise<string>((ok, fail) => {
    execFile('sh', ['-c', script, 'sh', url], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`curl GET ${url}: ${err.message} ${stderr}`));
      else ok(stdout);
    });
  });
  const [result = '', , children = ''] = out.trim().split('\n');
  const [code, bytes, total, header] = result.trim().split(/\s+/);
  if (code !== '200') {
    // Fetch again with node:http to show the response in full.
    await request('GET', url, { expect: [200], discard: true });
    throw new Error(`GET ${url}: curl saw status ${code}, a second try got 200`);
  }
  if (Number(bytes) !== size) throw new Error(`GET ${url}: received ${bytes} bytes, expected ${size}`);
  if (header && header !== digest) throw new Error(`GET ${url}: Docker-Content-Digest ${header}, expected ${digest}`);
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  return { seconds: Number(total), clientCpu: cpu };
}

/**
 * A whole small blob in one session (POST, then PUT ?digest= with the body).
 * `headers` (e.g. Authorization) go on both requests.
 */
export async function putSmallBlob(
  base: string,
  repo: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const loc = await startUpload(base, repo, headers);
  await request('PUT', withDigest(loc, digest), {
    headers: { ...headers, 'Content-Type': OCTETS, 'Content-Length': body.length },
    body,
    expect: [201],
  });
  return digest;
}
