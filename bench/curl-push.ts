/**
 * Pushes with curl the way the bench's own client pushes (bench/client.ts), so that push-check can put the two
 * side by side on the same request types: one streamed PATCH of the whole file (`-T file`), and one PATCH per
 * chunk with Content-Range, each chunk a file of its own. The session's POST is not timed (as in the client);
 * the figure is the sum of curl's own `time_total` over the PATCHes and the closing PUT, so curl's process
 * start-up is not counted against either registry.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BlobData, startUpload, withDigest } from './client.js';

interface CurlAnswer {
  code: string;
  seconds: number;
  location: string | undefined;
  digest: string | undefined;
}

/** Runs curl with the headers on stdout (-D -), the body discarded; returns status, time_total and headers. */
function curl(args: string[], base: string): Promise<CurlAnswer> {
  return new Promise((ok, fail) =>
    execFile('curl', ['-s', '-o', '/dev/null', '-D', '-', '-w', '\n%{http_code} %{time_total}', ...args], (err, stdout) => {
      if (err) return fail(err);
      const lines = stdout.trim().split(/\r?\n/);
      const [code, secs] = lines.at(-1)!.split(' ');
      const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
      const loc = header('location');
      ok({ code: code!, seconds: Number(secs), location: loc === undefined ? undefined : new URL(loc, base).toString(), digest: header('docker-content-digest') });
    }),
  );
}

/** Closes the session with an empty PUT ?digest=; checks 201 and the digest. Returns curl's time_total. */
async function curlClose(base: string, loc: string, digest: string): Promise<number> {
  return checkedPut(await curl(['-X', 'PUT', '-H', 'Content-Length: 0', withDigest(loc, digest)], base), loc, digest);
}

/** A closing PUT's answer: 201 and, when present, the expected Docker-Content-Digest. Returns curl's time_total. */
function checkedPut(put: CurlAnswer, loc: string, digest: string): number {
  if (put.code !== '201') throw new Error(`curl PUT ${loc}: ${put.code}`);
  if (put.digest !== undefined && put.digest !== digest) throw new Error(`curl PUT ${loc}: Docker-Content-Digest ${put.digest}, expected ${digest}`);
  return put.seconds;
}

/** A blob whose variants can be named: the digest of variant k (its last 16 bytes rewritten). */
export interface Variants {
  size: number;
  variant(k: number): string;
}

/** Rewrites the last bytes of `path` (a file ending where the blob ends) to variant k's tail. */
function setTail(path: string, fileSize: number, k: number): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, BlobData.tailOf(k), 0, BlobData.TAIL, fileSize - BlobData.TAIL);
  } finally {
    closeSync(fd);
  }
}

/**
 * POST a session, then one `curl -T` PUT of the whole file with ?digest= (a monolithic push, 201 expected).
 * The file's last 16 bytes become variant `k` first, so every push stores new content. Returns curl's time_total (s).
 */
export async function curlPush(base: string, repo: string, file: { path: string; data: Variants }, k: number): Promise<number> {
  const digest = file.data.variant(k);
  setTail(file.path, file.data.size, k);
  const loc = withDigest(await startUpload(base, repo), digest);
  return checkedPut(await curl(['-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '-T', file.path, loc], base), loc, digest);
}

/** POST, then (timed) `curl -X PATCH -T file` of the whole blob and the closing PUT. `path` holds data's bytes. */
export async function curlPatchPush(base: string, repo: string, data: BlobData, path: string, k: number): Promise<number> {
  const digest = data.variant(k);
  setTail(path, data.size, k);
  const loc = await startUpload(base, repo);
  const patch = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-T', path, loc], base);
  if (patch.code !== '202' || patch.location === undefined) throw new Error(`curl PATCH ${loc}: ${patch.code}`);
  return patch.seconds + (await curlClose(base, patch.location, digest));
}

/** The blob cut into files of `chunkSize` bytes, for curlChunkedPush. */
export interface ChunkFiles {
  data: BlobData;
  paths: string[];
  chunkSize: number;
}

export function chunkFiles(data: BlobData, dir: string, chunkSize: number): ChunkFiles {
  mkdirSync(dir, { recursive: true });
  const paths = data.slices(chunkSize).map((slice, i) => {
    const path = join(dir, `chunk-${String(i).padStart(5, '0')}`);
    writeFileSync(path, slice);
    return path;
  });
  return { data, paths, chunkSize };
}

/** POST, then (timed) one `curl -X PATCH -T chunk` per chunk with Content-Range, following Location, and the PUT. */
export async function curlChunkedPush(base: string, repo: string, chunks: ChunkFiles, k: number): Promise<number> {
  const { data, paths, chunkSize } = chunks;
  const digest = data.variant(k);
  setTail(paths.at(-1)!, data.size - chunkSize * (paths.length - 1), k);
  let loc = await startUpload(base, repo);
  let seconds = 0;
  let start = 0;
  for (const path of paths) {
    const end = Math.min(start + chunkSize, data.size) - 1;
    const patch = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-H', `Content-Range: ${start}-${end}`, '-T', path, loc], base);
    if (patch.code !== '202' || patch.location === undefined) throw new Error(`curl PATCH ${loc} (${start}-${end}): ${patch.code}`);
    seconds += patch.seconds;
    loc = patch.location;
    start = end + 1;
  }
  return seconds + (await curlClose(base, loc, digest));
}
