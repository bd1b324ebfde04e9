/**
 * `node dist/bench/scale-seed-child.js ROOT REPOS`: seeds unireg's storage root with planOf(REPOS)
 * (./scale-seed.ts) and prints the seconds it took. bench:scale seeds through this process, not
 * its own: seeding 200,000 tags in the load generator left its heap large, and the loads it then
 * generated against the largest size ran slower than against the smallest (docs/benchmarks.md,
 * "At scale").
 */
import { planOf, seedUnireg } from './scale-seed.js';

const [root, repos] = process.argv.slice(2);
if (root === undefined || !(Number(repos) > 0)) {
  process.stderr.write('usage: scale-seed-child.js ROOT REPOS\n');
  process.exit(2);
}
const seconds = await seedUnireg(root, planOf(Number(repos)));
process.stdout.write(`${JSON.stringify({ seconds })}\n`);
