/** The corpus: `count` requests drawn from every generator by weight, from one seed. */
import { manifestPut } from './manifests.js';
import { blobOp, blobRange, catalog, manifestRead, referrers, strayRequest, tagsList } from './reads.js';
import { Rng } from './rng.js';
import type { CorpusRequest, Fixture } from './types.js';
import { filteredGet, packRequest, variantsListing } from './unikernel.js';
import { uploadSession, uploadStart, uploadStray } from './uploads.js';

type Generator = (rng: Rng, fx: Fixture) => CorpusRequest;

const GENERATORS: [Generator, number][] = [
  [manifestPut, 18],
  [uploadSession, 12],
  [blobRange, 9],
  [manifestRead, 9],
  [filteredGet, 9],
  [packRequest, 10],
  [uploadStart, 8],
  [blobOp, 6],
  [referrers, 6],
  [variantsListing, 6],
  [tagsList, 5],
  [catalog, 3],
  [uploadStray, 4],
  [strayRequest, 4],
];

export function generateCorpus(seed: number, fx: Fixture, count: number): CorpusRequest[] {
  const rng = new Rng(seed);
  const total = GENERATORS.reduce((sum, [, w]) => sum + w, 0);
  const out: CorpusRequest[] = [];
  // Every generator at least a few times, then by weight.
  for (const [generate] of GENERATORS) for (let i = 0; i < 5; i++) out.push(generate(rng, fx));
  while (out.length < count) {
    let r = rng.int(total);
    for (const [generate, weight] of GENERATORS) {
      if (r < weight) {
        out.push(generate(rng, fx));
        break;
      }
      r -= weight;
    }
  }
  return out;
}
