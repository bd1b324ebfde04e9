/**
 * Push throughput with real clients, against unireg and Distribution: curl streaming one blob
 * (`-T file`, a monolithic PUT after the POST), then curl and the bench's own node:http client side by side on
 * the same request types (one streamed PATCH; 16 MiB chunks with Content-Range; which of the two goes first
 * alternates by round), to check that the client handicaps neither registry, then N curl pushes at once
 * (aggregate MB/s) and a skopeo copy. Each round starts each registry afresh and gives it one untimed curl
 * push of --warmup-mib first (0: none), so that the first timed push does not pay for the process's first
 * allocations (unireg: its hashing thread, its first buffers).
 * Prints a Markdown table; asserts nothing.
 * Usage: node dist/bench/push-check.js [--size-mib 1024] [--parallel 8] [--parallel-mib 256] [--rounds 3] [--warmup-mib 64]
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobData, pushChunked, pushStreamed } from './client.js';
import { chunkFiles, curlChunkedPush, curlPatchPush, curlPush } from './curl-push.js';
import { pushFile } from './scale-measure.js';
import { settle } from './phases.js';
import { cpuSeconds, startRegistry, stopRegistry, type Registry, type RegistryKind } from './servers.js';
import { makeImage, writeOciLayout, type Image, type Layout } from '../test/helpers/images.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    parallel: { type: 'string', default: '8' },
    'parallel-mib': { type: 'string', default: '256' },
    'skopeo-mib': { type: 'string', default: '100' },
    /** `false`: unireg writes through the page cache (storage.blobs.directWrites), for an A/B of direct writes. */
    'direct-writes': { type: 'string', default: 'true' },
    /** unireg's storage.blobs.hashThreads, for an A/B of the hashing pool. */
    'hash-threads': { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    'warmup-mib': { type: 'string', default: '64' },
  },
});

const mbps = (bytes: number, s: number) => bytes / 1e6 / s;
const SKOPEO = '/usr/bin/skopeo';

/** Seconds for `skopeo copy` of the layout's image to `base` (plain HTTP). */
function skopeoPush(transport: string, base: string, repo: string): Promise<number> {
  const t0 = performance.now();
  const dest = `docker://${base.slice('http://'.length)}/${repo}:latest`;
  return new Promise((ok, fail) =>
    execFile(SKOPEO, ['copy', '--quiet', '--dest-tls-verify=false', transport, dest], (err, _out, stderr) =>
      err ? fail(new Error(`skopeo copy to ${dest}: ${stderr || err.message}`)) : ok((performance.now() - t0) / 1000),
    ),
  );
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const size = Number(values['size-mib']) << 20;
  const parallel = Number(values.parallel);
  const psize = Number(values['parallel-mib']) << 20;
  const rounds = Number(values.rounds);
  const warmMib = Number(values['warmup-mib']);
  const skopeoMib = existsSync(SKOPEO) ? Number(values['skopeo-mib']) : 0;
  if (!existsSync(SKOPEO)) process.stderr.write(`[push-check] ${SKOPEO} not installed: no skopeo figures\n`);
  const dir = mkdtempSync(join(tmpdir(), 'unireg-push-check-'));
  const empty = () => ({ curl: [] as number[], curlPatch: [] as number[], curlChunked: [] as number[], client: [] as number[], chunked: [] as number[], par: [] as number[], skopeo: [] as number[], cpuPerGiB: [] as number[] });
  const rows: Record<RegistryKind, ReturnType<typeof empty>> = { unireg: empty(), distribution: empty(), floor: empty() };
  let image: Layout<Image> | undefined;
  let layerBytes = 0;
  try {
    // One image whose single layer is a gzip of skopeoMib of seeded random files (incompressible).
    const files = Math.max(1, Math.round(skopeoMib / 10));
    image =
      skopeoMib > 0
        ? await writeOciLayout(join(dir, 'skopeo-layout'), 'latest', makeImage(`push-check-${Date.now()}`, { layers: [{ dir: 'opt/big', files, fileSize: Math.round((skopeoMib << 20) / files) }] }))
        : undefined;
    layerBytes = image?.content.layers[0]?.bytes.length ?? 0;
    const layout = image;
    const big = pushFile(new BlobData(size), dir, 'big.bin');
    const chunks = chunkFiles(big.data, join(dir, 'chunks'), 16 << 20);
    const small = Array.from({ length: parallel }, (_, w) => pushFile(new BlobData(psize), dir, `p${w}.bin`));
    const warm = warmMib > 0 ? pushFile(new BlobData(warmMib << 20), dir, 'warm.bin') : undefined;
    let k = 0;
    for (let round = 0; round < rounds; round++) {
      const order: RegistryKind[] = round % 2 === 0 ? ['unireg', 'distribution'] : ['distribution', 'unireg'];
      for (const kind of order) {
        const reg = await startRegistry(kind, kind === 'unireg' ? { env: { UNIREG_STORAGE_BLOBS_DIRECT_WRITES: values['direct-writes'], UNIREG_STORAGE_BLOBS_HASH_THREADS: values['hash-threads'] } } : {});
        try {
          if (warm !== undefined) await curlPush(reg.base, 'push/warmup', warm, ++k);
          await settle();
          const cpu0 = cpuSeconds(reg.pid);
          const s = await curlPush(reg.base, 'push/curl', big, ++k);
          rows[kind].cpuPerGiB.push((cpuSeconds(reg.pid) - cpu0) / (size / 2 ** 30));
          rows[kind].curl.push(mbps(size, s));
          // curl and the client take turns going first (a server's later pushes can be slower: Distribution's are).
          const pair = async (first: () => Promise<void>, second: () => Promise<void>) => {
            for (const push of round % 2 === 0 ? [first, second] : [second, first]) {
              await settle();
              await push();
            }
          };
          await pair(
            async () => void rows[kind].curlPatch.push(mbps(size, await curlPatchPush(reg.base, 'push/curl-patch', big.data, big.path, ++k))),
            async () => void rows[kind].client.push(mbps(size, await pushStreamed(reg.base, 'push/client', big.data, big.data.variant(++k)))),
          );
          await pair(
            async () => void rows[kind].curlChunked.push(mbps(size, await curlChunkedPush(reg.base, 'push/curl-chunked', chunks, ++k))),
            async () => void rows[kind].chunked.push(mbps(size, await pushChunked(reg.base, 'push/chunked', big.data, big.data.variant(++k), 16 << 20))),
          );
          await settle();
          const t0 = performance.now();
          await Promise.all(small.map((f, w) => curlPush(reg.base, `push/par${w}`, f, ++k)));
          rows[kind].par.push(mbps(psize * parallel, (performance.now() - t0) / 1000));
          if (layout !== undefined) {
            await settle();
            rows[kind].skopeo.push(mbps(layerBytes, await skopeoPush(layout.transport, reg.base, 'push/skopeo')));
          }
          process.stderr.write(
            `[push-check] round ${round + 1} ${kind}: curl -T ${rows[kind].curl.at(-1)!.toFixed(0)} MB/s, ` +
              `streamed PATCH curl ${rows[kind].curlPatch.at(-1)!.toFixed(0)} / client ${rows[kind].client.at(-1)!.toFixed(0)} MB/s, ` +
              `16 MiB chunks curl ${rows[kind].curlChunked.at(-1)!.toFixed(0)} / client ${rows[kind].chunked.at(-1)!.toFixed(0)} MB/s, ` +
              `${parallel}× parallel ${rows[kind].par.at(-1)!.toFixed(0)} MB/s` +
              (image === undefined ? '' : `, skopeo ${rows[kind].skopeo.at(-1)!.toFixed(0)} MB/s`) +
              '\n',
          );
        } finally {
          await stopRegistry(reg);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const u = rows.unireg;
  const d = rows.distribution;
  const line = (name: string, a: number[], b: number[]) =>
    `| ${name} | ${a.map((x) => x.toFixed(0)).join(' / ')} (median ${med(a).toFixed(0)}) | ${b.map((x) => x.toFixed(0)).join(' / ')} (median ${med(b).toFixed(0)}) | ${(med(a) / med(b)).toFixed(2)}× |`;
  console.log(
    [
      '| Push | unireg MB/s per round | Distribution MB/s per round | unireg / Distribution |',
      '|---|---|---|---|',
      line(`${values['size-mib']} MiB, curl -T (monolithic PUT)`, u.curl, d.curl),
      line(`${values['size-mib']} MiB, curl -X PATCH -T (one streamed PATCH + PUT)`, u.curlPatch, d.curlPatch),
      line(`${values['size-mib']} MiB, bench client (one streamed PATCH + PUT)`, u.client, d.client),
      line(`${values['size-mib']} MiB, curl in 16 MiB chunks (a PATCH with Content-Range per chunk file, PUT)`, u.curlChunked, d.curlChunked),
      line(`${values['size-mib']} MiB, bench client in 16 MiB chunks (PATCH with Content-Range each, PUT)`, u.chunked, d.chunked),
      line(`${parallel} × ${values['parallel-mib']} MiB at once, curl (aggregate)`, u.par, d.par),
      ...(image === undefined ? [] : [line(`skopeo copy, one ${(layerBytes / 2 ** 20).toFixed(0)} MiB gzip layer (whole copy, layer bytes / s)`, u.skopeo, d.skopeo)]),
      `| Server CPU s per GiB during the curl push | ${u.cpuPerGiB.map((x) => x.toFixed(2)).join(' / ')} | ${d.cpuPerGiB.map((x) => x.toFixed(2)).join(' / ')} | |`,
      '',
      warmMib > 0 ? `Each registry was started afresh every round and took one untimed ${warmMib} MiB curl push before the timed ones.` : 'Each registry was started afresh every round; no warm-up push (the first timed push is its first).',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
