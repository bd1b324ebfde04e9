import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { limitHeapGrowth, stopPretenuring } from '../../src/heap-growth.js';

const run = promisify(execFile);
const MODULE = fileURLToPath(new URL('../../src/heap-growth.js', import.meta.url));

/**
 * A child that keeps ~30 MiB alive and allocates garbage beside it, with or without
 * limitHeapGrowth(); prints the largest heapTotal it saw (MiB). Memory, not time: the
 * same allocations in both children, so the figure depends only on the growth factor.
 */
async function maxHeapMiB(limit: boolean): Promise<number> {
  const script = `
    const { limitHeapGrowth } = await import(${JSON.stringify(MODULE)});
    if (${limit}) limitHeapGrowth([]);
    const live = [];
    for (let i = 0; i < 300000; i++) live.push({ a: 'x' + i, b: [i, i + 1] });
    let max = 0, churn = [];
    for (let r = 0; r < 200; r++) {
      for (let i = 0; i < 20000; i++) churn.push({ s: 'y' + i, n: [i] });
      if (churn.length > 100000) churn = [];
      max = Math.max(max, process.memoryUsage().heapTotal);
    }
    process.stdout.write(String(max / 1048576) + ' ' + live.length);
  `;
  const { stdout } = await run(process.execPath, ['--max-semi-space-size=2', '--input-type=module', '-e', script]);
  return Number(stdout.split(' ')[0]);
}

test('limitHeapGrowth keeps the heap closer to its live data than V8 does by default', async () => {
  const [limited, unlimited] = await Promise.all([maxHeapMiB(true), maxHeapMiB(false)]);
  assert.ok(limited > 30, `the child kept its live set (${limited} MiB)`);
  assert.ok(limited < unlimited * 0.75, `largest heap with the limit ${limited.toFixed(0)} MiB, without ${unlimited.toFixed(0)} MiB`);
});

test('limitHeapGrowth leaves a factor given on node’s command line alone', () => {
  assert.equal(limitHeapGrowth(['--heap-growing-percent=100']), false);
  assert.equal(limitHeapGrowth(['--heap_growing_percent=100']), false);
});

/** Lines V8 prints about allocation-site pretenuring while a child keeps many young objects alive, with or without stopPretenuring(). */
async function pretenuringLines(stop: boolean): Promise<number> {
  const script = `
    const { stopPretenuring } = await import(${JSON.stringify(MODULE)});
    if (${stop}) stopPretenuring([]);
    const keep = [];
    const make = (i) => ({ a: i, b: [i] });
    for (let r = 0; r < 40; r++) {
      for (let i = 0; i < 100000; i++) keep.push(make(i));
      if (keep.length > 400000) keep.length = 0;
    }
    process.stdout.write(String(keep.length));
  `;
  const { stdout } = await run(process.execPath, ['--trace-pretenuring-statistics', '--input-type=module', '-e', script], { maxBuffer: 16 << 20 });
  return stdout.split('\n').filter((line) => line.includes('pretenuring:')).length;
}

test('stopPretenuring turns V8’s allocation-site pretenuring off in a running process', async () => {
  const [stopped, left] = await Promise.all([pretenuringLines(true), pretenuringLines(false)]);
  assert.ok(left > 0, 'without it V8 weighs sites for pretenuring (the workload triggers it)');
  assert.equal(stopped, 0, `with it V8 printed ${stopped} pretenuring lines`);
});

test('stopPretenuring leaves a pretenuring flag given on node’s command line alone', () => {
  assert.equal(stopPretenuring(['--allocation-site-pretenuring']), false);
  assert.equal(stopPretenuring(['--no-allocation_site_pretenuring']), false);
});
