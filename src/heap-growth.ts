/**
 * How far V8 lets the heap grow past what its last full collection kept alive.
 *
 * By default V8 picks a factor between 1.1 and 4 from how fast the program allocates
 * against how fast it collects, and a registry under load allocates fast: under 64
 * connections of manifest GETs with pushes running, unireg's heap at 10,000 repositories
 * held ~35 MiB alive and grew to 80–100 MiB, mostly garbage, between full collections.
 * A factor of 1.5 keeps it near 55 MiB, and peak RSS through `bench:scale`'s loads went
 * from 165–210 to 159–169 MiB (together with MALLOC_ARENA_MAX=2 in the launchers) with no
 * change in requests per second outside the noise (docs/benchmarks.md, "Memory at scale").
 *
 * NODE_OPTIONS does not accept this flag, so the server sets it for itself when it starts;
 * V8 reads it at every full collection. A `--heap-growing-percent` given on node's own
 * command line wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** Sets V8's heap growing factor unless node was started with one; returns whether it did. */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
