/**
 * How far V8 lets the heap grow past what its last full collection kept alive.
 *
 * By default V8 picks a factor between 1.1 and 4 from how fast the program allocates
 * against how fast it collects, and a registry under load allocates fast: under 64
 * connections of manifest GETs with pushes running, unireg's heap at 10,000 repositories
 * held ~35 MiB alive and grew to 80–100 MiB, mostly garbage, between full collections.
 * A factor of 1.5 kept it near 55 MiB, and peak RSS through `bench:scale`'s loads went
 * from 165–210 to 159–169 MiB (together with MALLOC_ARENA_MAX=2 in the launchers) with no
 * change in requests per second outside the noise. 1.25 (2 Dec), once the live heap had
 * shrunk to ~22 MiB: V8 then grows by its minimum step (8 MiB) more often than by the
 * factor, and VmHWM through the bench's push phases went 146–149 → 141–145 MiB
 * (docs/benchmarks.md, "Memory at scale").
 *
 * NODE_OPTIONS does not accept this flag, so the server sets it for itself when it starts;
 * V8 reads it at every full collection. A `--heap-growing-percent` given on node's own
 * command line wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 25;

/**
 * Turns off V8's allocation-site pretenuring unless node's command line says otherwise.
 *
 * V8 watches object and array literals: when most objects made at one site survive a young
 * collection, it makes that site allocate straight into the old generation. A server's
 * per-request objects live for a few milliseconds, but under 64 connections a young
 * collection comes every ~12 ms, so some sites crossed that line by chance: in 7 of 21 runs
 * of a 64-connection tags/list load, V8 tenured them, ~5 KiB per request then reached the
 * old generation instead of ~50 bytes, and it took 13–20 full collections in 5 s with the
 * heap at its growth limit (peak RSS +10–20 MiB, up to a third fewer requests per second).
 * With pretenuring off: none in 16 runs (docs/benchmarks.md, "Memory at scale").
 * Long-lived data (the stored-content count, the page caches) is built once and promoted
 * by the ordinary young collections.
 *
 * Like the growing factor, not accepted by NODE_OPTIONS; V8 reads it at every collection.
 */
export function stopPretenuring(execArgv: readonly string[] = process.execArgv): boolean {
  return setUnlessGiven(execArgv, /^--(no[-_])?allocation[-_]site[-_]pretenuring/, '--no-allocation-site-pretenuring');
}

/** Sets the V8 flag `flag` unless node's command line has an argument matching `given`; returns whether it did. */
function setUnlessGiven(execArgv: readonly string[], given: RegExp, flag: string): boolean {
  if (execArgv.some((arg) => given.test(arg))) return false;
  setFlagsFromString(flag);
  return true;
}

/** Sets V8's heap growing factor unless node was started with one; returns whether it did. */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  return setUnlessGiven(execArgv, /^--heap[-_]growing[-_]percent/, `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
