/**
 * Is the bench's own client (bench/client.ts) slower than curl? One registry, one server, the same 1 GiB blob
 * pushed by the client and by curl with the same requests (one streamed PATCH, or 16 MiB Content-Range chunks),
 * alternated pair by pair (which goes first swaps every pair), a new digest every push, `sync` before each.
 * Prints every push and the medians; asserts nothing.
 * Usage: node dist/bench/client-vs-curl.js [--registry unireg|distribution] [--mode streamed|chunked] [--pairs 8] [--size-mib 1024]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobData, pushChunked, pushStreamed } from './client.js';
import { chunkFiles, curlChunkedPush, curlPatchPush } from './curl-push.js';
import { settle } from './phases.js';
import { pushFile } from './scale-measure.js';
import { startRegistry, stopRegistry, type RegistryKind } from './servers.js';

const { values } = parseArgs({
  options: {
    registry: { type: 'string', default: 'unireg' },
    mode: { type: 'string', default: 'streamed' },
    pairs: { type: 'string', default: '8' },
    'size-mib': { type: 'string', default: '1024' },
  },
});

const CHUNK = 16 << 20;
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const kind = values.registry as RegistryKind;
  if (kind !== 'unireg' && kind !== 'distribution') throw new Error(`--registry must be unireg or distribution, not ${kind}`);
  const chunked = values.mode === 'chunked';
  if (!chunked && values.mode !== 'streamed') throw new Error(`--mode must be streamed or chunked, not ${values.mode}`);
  const size = Number(values['size-mib']) << 20;
  const pairs = Number(values.pairs);
  const dir = mkdtempSync(join(tmpdir(), 'unireg-client-vs-curl-'));
  const mb = { curl: [] as number[], client: [] as number[] };
  try {
    const big = pushFile(new BlobData(size), dir, 'big.bin');
    const chunks = chunked ? chunkFiles(big.data, join(dir, 'chunks'), CHUNK) : undefined;
    const reg = await startRegistry(kind);
    try {
      let k = 0;
      for (let pair = 0; pair < pairs; pair++) {
        for (const who of pair % 2 === 0 ? (['curl', 'client'] as const) : (['client', 'curl'] as const)) {
          await settle();
          const n = ++k;
          const seconds =
            who === 'curl'
              ? chunks !== undefined
                ? await curlChunkedPush(reg.base, 'check/curl', chunks, n)
                : await curlPatchPush(reg.base, 'check/curl', big.data, big.path, n)
              : chunks !== undefined
                ? await pushChunked(reg.base, 'check/client', big.data, big.data.variant(n), CHUNK)
                : await pushStreamed(reg.base, 'check/client', big.data, big.data.variant(n));
          mb[who].push(size / 1e6 / seconds);
        }
        process.stderr.write(`[client-vs-curl] pair ${pair + 1}: curl ${mb.curl.at(-1)!.toFixed(0)} MB/s, client ${mb.client.at(-1)!.toFixed(0)} MB/s\n`);
      }
    } finally {
      await stopRegistry(reg);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const won = mb.client.filter((c, i) => c > mb.curl[i]!).length;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
  console.log(
    `${kind}, ${chunked ? '16 MiB chunks' : 'one streamed PATCH'}: curl median ${med(mb.curl).toFixed(0)} MB/s (${list(mb.curl)}), ` +
      `client median ${med(mb.client).toFixed(0)} MB/s (${list(mb.client)}); the client won ${won} of ${pairs} pairs`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
