/**
 * `npm run bench:floor`: how close unireg's uploads are to the floor of Node on
 * this machine. Pushes the same 1 GiB blob (one streamed PATCH + PUT, as in
 * `npm run bench`) to unireg and to bench/floor-server.ts (a bare node:http
 * server that only receives, hashes, writes and fsyncs) in turns, and prints
 * MB/s and the server's user and system CPU per GiB for each round.
 * Usage: node dist/bench/floor.js [--size-mib 1024] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { BlobData, pushStreamed } from './client.js';
import { log, settle } from './phases.js';
import { cpuSplit, startRegistry, stopRegistry, type RegistryKind } from './servers.js';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, rounds: { type: 'string', default: '3' } } });
const sizeMib = Number(values['size-mib']);
const rounds = Number(values.rounds);
if (!(sizeMib >= 1) || !(rounds >= 1)) throw new Error('usage: node dist/bench/floor.js [--size-mib N] [--rounds N]');

interface Round {
  mbps: number;
  user: number;
  sys: number;
}

async function main(): Promise<void> {
  const data = new BlobData(sizeMib << 20);
  const gib = data.size / 2 ** 30;
  const kinds: RegistryKind[] = ['unireg', 'floor'];
  const results = new Map<RegistryKind, Round[]>(kinds.map((k) => [k, []]));
  let variant = 0;
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
      const reg = await startRegistry(kind);
      try {
        await settle();
        const digest = data.variant(++variant);
        const before = cpuSplit(reg.pid);
        const seconds = await pushStreamed(reg.base, 'bench/floor', data, digest);
        const after = cpuSplit(reg.pid);
        const r = { mbps: data.size / 1e6 / seconds, user: (after.user - before.user) / gib, sys: (after.sys - before.sys) / gib };
        results.get(kind)!.push(r);
        log(`${kind} round ${round + 1}: ${r.mbps.toFixed(0)} MB/s, server CPU ${r.user.toFixed(2)} s user + ${r.sys.toFixed(2)} s sys per GiB`);
      } finally {
        await stopRegistry(reg);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`\n| ${sizeMib} MiB streamed push, median of ${rounds} | MB/s | user s/GiB | sys s/GiB |\n| --- | ---: | ---: | ---: |\n`);
  for (const kind of kinds) {
    const rs = results.get(kind)!;
    const row = [median(rs.map((r) => r.mbps)).toFixed(0), median(rs.map((r) => r.user)).toFixed(2), median(rs.map((r) => r.sys)).toFixed(2)];
    process.stdout.write(`| ${kind === 'floor' ? 'bare Node (bench/floor-server.ts)' : 'unireg'} | ${row.join(' | ')} |\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:floor: ${String(err)}\n`);
  process.exit(1);
});
