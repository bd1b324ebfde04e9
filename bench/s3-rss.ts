/**
 * Memory of unireg on the s3 blob driver: a 1 GiB blob pushed (one streamed PATCH, then
 * the closing PUT) and pulled (one GET, proxied; then once more in 64 KiB PATCHes for the
 * chunked path), against a real radosgw started with test/engines/start-s3.sh. Prints the
 * peak VmRSS of the unireg process per phase and the throughput; target: ≤ 150 MiB.
 *
 * Usage: node dist/bench/s3-rss.js [--mib 1024] [--rss-mib 150]
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ROOT, sampleRss, startRegistry, stopRegistry, type Registry } from './servers.js';

const { values: args } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, 'rss-mib': { type: 'string', default: '150' } } });
const SIZE = Number(args.mib) * 1024 * 1024;
const TARGET = Number(args['rss-mib']);
const SCRIPT = join(ROOT, 'test/engines/start-s3.sh');
const run = promisify(execFile);

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

async function freePortRange(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let p = base; p < base + 10 && free; p++) free = await portFree(p);
    if (free) return base;
  }
}

/** The bytes pushed: a 1 MiB random block, each copy stamped with its index. */
function* content(size: number): Generator<Buffer> {
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let at = 0, n = 0; at < size; at += block.length, n++) {
    block.writeUInt32LE(n, 0);
    yield Buffer.from(block.subarray(0, Math.min(block.length, size - at)));
  }
}

function send(method: string, url: string, body: Iterable<Buffer> | undefined, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; hash: string; bytes: number }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, headers }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, hash: hash.digest('hex'), bytes }));
      res.on('error', fail);
    });
    req.on('error', fail);
    if (!body) return void req.end();
    const it = body[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        const next = it.next();
        if (next.done) return void req.end();
        if (!req.write(next.value)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

async function phase<T>(reg: Registry, fn: () => Promise<T>): Promise<{ value: T; rss: number; s: number }> {
  const rss = sampleRss(reg.pid, 50);
  const t = performance.now();
  const value = await fn();
  return { value, s: (performance.now() - t) / 1000, rss: rss.stop() };
}

async function main(): Promise<void> {
  const dir = join(mkdtempSync(join(tmpdir(), 'unireg-bench-s3-')), 'ceph');
  let reg: Registry | undefined;
  try {
    const port = await freePortRange();
    const { stdout } = await run('bash', [SCRIPT, dir, String(port)], { maxBuffer: 1 << 20 });
    const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    reg = await startRegistry('unireg', {
      env: {
        UNIREG_STORAGE_BLOBS_DRIVER: 's3',
        UNIREG_STORAGE_BLOBS_S3_ENDPOINT: env.S3_ENDPOINT!,
        UNIREG_STORAGE_BLOBS_S3_BUCKET: env.S3_BUCKET!,
        UNIREG_STORAGE_BLOBS_S3_ACCESS_KEY: env.S3_ACCESS_KEY!,
        UNIREG_STORAGE_BLOBS_S3_SECRET_KEY: env.S3_SECRET_KEY!,
        UNIREG_STORAGE_BLOBS_S3_FORCE_PATH_STYLE: 'true',
        UNIREG_STORAGE_BLOBS_S3_PREFIX: 'bench',
      },
    });
    const base = reg.base;
    const digest = `sha256:${[...content(SIZE)].reduce((h, b) => h.update(b), createHash('sha256')).digest('hex')}`;
    const rows: string[] = [];
    const row = (name: string, p: { rss: number; s: number }) =>
      rows.push(`| ${name} | ${p.s.toFixed(1)} | ${(SIZE / 1e6 / p.s).toFixed(0)} | ${p.rss.toFixed(0)} | ${p.rss <= TARGET ? 'PASS' : 'FAIL'} |`);

    const push = await phase(reg, async () => {
      const post = await send('POST', `${base}/v2/bench/big/blobs/uploads/`, undefined);
      const location = new URL(String(post.headers.location), base).toString();
      const patch = await send('PATCH', location, content(SIZE), { 'Content-Type': 'application/octet-stream' });
      if (patch.status !== 202) throw new Error(`PATCH: ${patch.status}`);
      const next = new URL(String(patch.headers.location), base).toString();
      const put = await send('PUT', `${next}${next.includes('?') ? '&' : '?'}digest=${digest}`, undefined);
      if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
    });
    row(`push ${args.mib} MiB (one streamed PATCH + PUT)`, push);
    const pull = await phase(reg, () => send('GET', `${base}/v2/bench/big/blobs/${digest}`, undefined));
    if (pull.value.status !== 200 || `sha256:${pull.value.hash}` !== digest) throw new Error(`pull: ${pull.value.status}, ${pull.value.hash}`);
    row(`pull ${args.mib} MiB (GET proxied by unireg)`, pull);
    const chunked = await phase(reg, async () => {
      const post = await send('POST', `${base}/v2/bench/chunked/blobs/uploads/`, undefined);
      let location = new URL(String(post.headers.location), base).toString();
      const piece = 64 << 20;
      let at = 0;
      const gen = content(SIZE);
      let buffered: Buffer[] = [];
      let size = 0;
      const flush = async () => {
        const r = await send('PATCH', location, buffered, { 'Content-Range': `${at}-${at + size - 1}` });
        if (r.status !== 202) throw new Error(`PATCH: ${r.status}`);
        location = new URL(String(r.headers.location), base).toString();
        at += size;
        buffered = [];
        size = 0;
      };
      for (const b of gen) {
        buffered.push(b);
        size += b.length;
        if (size >= piece) await flush();
      }
      if (size > 0) await flush();
      const put = await send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, undefined);
      if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
    });
    row(`push ${args.mib} MiB again (64 MiB PATCHes)`, chunked);
    process.stdout.write(`\nunireg on the s3 blob driver (radosgw 16.2 on this machine), peak VmRSS of the unireg process; target ≤ ${TARGET} MiB\n\n`);
    process.stdout.write(`| phase | s | MB/s | peak RSS MiB | ≤ ${TARGET} MiB |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n`);
    if (rows.some((r) => r.includes('FAIL'))) process.exitCode = 1;
  } finally {
    if (reg) await stopRegistry(reg);
    await run('bash', [SCRIPT, 'stop', dir]).catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
}

await main();
