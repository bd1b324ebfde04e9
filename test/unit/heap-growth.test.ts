import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { limitHeapGrowth } from '../../src/heap-growth.js';

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
  const { stdout } = await run(process.execPath, ['--max-semi-space-size=4', '--input-type=module', '-e', script]);
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
