/**
 * `npm run bench:metrics`: manifest GET req/s with metrics on vs off (metrics.enabled), two unireg
 * processes on 127.0.0.1, alternating rounds so drift hits both alike. Prints figures; asserts nothing.
 *   node dist/bench/metrics.js [--seconds N] [--rounds N] [--connections N]
 */
import { parseArgs } from 'node:util';
import { OCI_MANIFEST, pushImage } from './image.js';
import { runLoad } from './load.js';
import { startRegistry, stopRegistry, type Registry } from './servers.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '16' } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const regs: { label: string; reg: Registry; rps: number[]; cpuUs: number[] }[] = [];
try {
  for (const [label, enabled] of [
    ['metrics on', 'true'],
    ['metrics off', 'false'],
  ] as const) {
    const reg = await startRegistry('unireg', { env: { UNIREG_METRICS_ENABLED: enabled, UNIREG_LOG_LEVEL: 'warn' } });
    regs.push({ label, reg, rps: [], cpuUs: [] });
  }
  const urls = new Map<Registry, { url: string; body: string }>();
  for (const { reg } of regs) {
    const image = await pushImage(reg.base, 'bench/metrics', 'latest');
    urls.set(reg, { url: `${reg.base}/v2/bench/metrics/manifests/latest`, body: image.manifest.toString('utf8') });
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? regs : [...regs].reverse();
    for (const entry of order) {
      const { url, body } = urls.get(entry.reg)!;
      const result = await runLoad({ url, method: 'GET', headers: { Accept: OCI_MANIFEST }, connections, seconds, expectBody: body, pid: entry.reg.pid });
      if (result.non2xx + result.errors + result.mismatches > 0) throw new Error(`${entry.label}: ${JSON.stringify(result.codes)} errors ${result.errors} mismatches ${result.mismatches}`);
      entry.rps.push(result.rps);
      // Server CPU per request: steadier than req/s on a machine shared with other work.
      const cpuUs = (result.serverCpu / result.responses) * 1e6;
      entry.cpuUs.push(cpuUs);
      process.stdout.write(`round ${round + 1} ${entry.label}: ${Math.round(result.rps)} req/s (p99 ${result.p99} ms), server CPU ${cpuUs.toFixed(1)} µs/request\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const on = median(regs[0]!.rps);
  const off = median(regs[1]!.rps);
  const cpuOn = median(regs[0]!.cpuUs);
  const cpuOff = median(regs[1]!.cpuUs);
  process.stdout.write(
    `\nmanifest GET, ${connections} connections, ${seconds} s x ${rounds} rounds (medians): metrics on ${Math.round(on)} req/s, ` +
      `off ${Math.round(off)} req/s (${(((off - on) / off) * 100).toFixed(1)} % fewer with metrics); server CPU ` +
      `${cpuOn.toFixed(1)} vs ${cpuOff.toFixed(1)} µs/request (${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)} % more with metrics)\n`,
  );
} finally {
  for (const { reg } of regs) await stopRegistry(reg);
}
