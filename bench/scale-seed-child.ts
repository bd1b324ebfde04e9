/**
 * `node dist/bench/scale-seed-child.js ROOT REPOS`: seeds unireg's storage root with planOf(REPOS)
 * (./scale-seed.ts) and prints the seconds it took. bench:scale seeds through this process, not
 * its own, so that the load generator's heap is the same at every size: with 200,000 tags seeded
 * in it, its loads against the largest size came out 16-19% below the smallest in two runs (a
 * precaution; the per-process spread is as large: docs/benchmarks.md, "At scale").
 */
import { planOf, seedUnireg } from './scale-seed.js';

const [root, repos] = process.argv.slice(2);
if (root === undefined || !(Number(repos) > 0)) {
  process.stderr.write('usage: scale-seed-child.js ROOT REPOS\n');
  process.exit(2);
}
const seconds = await seedUnireg(root, planOf(Number(repos)));
process.stdout.write(`${JSON.stringify({ seconds })}\n`);
