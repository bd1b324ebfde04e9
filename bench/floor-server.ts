/**
 * The floor for uploads in Node on this machine: a bare node:http server that
 * does only what any registry must do with a pushed blob (receive it, hash it
 * in 1 MiB pieces, write it, fdatasync, check the digest, rename) and speaks just
 * enough of the upload protocol for bench/client.ts (POST → PATCH → PUT). No
 * framework, no metadata, no concurrency control. `npm run bench:floor` pushes
 * to it and to unireg in turns. Usage: node dist/bench/floor-server.js ADDR DIR
 */
import { createHash } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [addr = '127.0.0.1:0', dir = '.'] = process.argv.slice(2);
const PIECE = 1 << 20;
let next = 0;
const uploads = new Map<string, { path: string; hash: string }>();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const reply = (status: number, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Length': '0', ...headers });
    res.end();
  };
  if (url.pathname === '/v2/') return reply(200);
  if (req.method === 'POST') return reply(202, { Location: `/up/${++next}` });
  const id = url.pathname.slice('/up/'.length);
  if (req.method === 'PATCH') {
    void (async () => {
      const path = join(dir, `upload-${id}`);
      const fh = await open(path, 'w');
      const hash = createHash('sha256');
      const piece = Buffer.allocUnsafe(PIECE);
      let fill = 0;
      let position = 0;
      const flush = async () => {
        hash.update(piece.subarray(0, fill));
        await fh.write(piece, 0, fill, position);
        position += fill;
        fill = 0;
      };
      for await (const chunk of req as AsyncIterable<Buffer>) {
        for (let off = 0; off < chunk.length; ) {
          const n = Math.min(chunk.length - off, PIECE - fill);
          chunk.copy(piece, fill, off, off + n);
          fill += n;
          off += n;
          if (fill === PIECE) await flush();
        }
      }
      if (fill > 0) await flush();
      await fh.datasync();
      await fh.close();
      uploads.set(id, { path, hash: `sha256:${hash.digest('hex')}` });
      reply(202, { Location: `/up/${id}` });
    })().catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      reply(500);
    });
    return;
  }
  if (req.method === 'PUT') {
    const upload = uploads.get(id);
    const digest = url.searchParams.get('digest');
    if (!upload || digest !== upload.hash) return reply(400);
    uploads.delete(id);
    rename(upload.path, join(dir, digest.replace(':', '-'))).then(
      () => reply(201, { 'Docker-Content-Digest': digest }),
      () => reply(500),
    );
    return;
  }
  reply(404);
});

const i = addr.lastIndexOf(':');
server.listen(Number(addr.slice(i + 1)), addr.slice(0, i));
