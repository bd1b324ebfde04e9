/**
 * The pushes behind bench:scale's "manifest GET under pushes", in a process of their own
 * (see manifestLoadUnderPush in ./scale-measure.ts): one pusher per file, each pushing its
 * file back to back with curl (POST, then one PUT of the whole file, a new variant each
 * time), until standard input closes; then the pushes in flight finish and it prints
 * `pushes N` (completed pushes) and exits. It holds nothing big: each file's hash up to
 * its last 16 bytes is read once at start, before it prints `ready`.
 *
 *   node dist/bench/push-driver.js BASE FILE...
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { BlobData } from './client.js';
import { curlPush, type Variants } from './curl-push.js';

class FileVariants implements Variants {
  private constructor(
    readonly size: number,
    private readonly prefix: Hash,
  ) {}

  static async of(path: string): Promise<FileVariants> {
    const size = statSync(path).size;
    const prefix = createHash('sha256');
    for await (const chunk of createReadStream(path, { end: size - BlobData.TAIL - 1 })) prefix.update(chunk as Buffer);
    return new FileVariants(size, prefix);
  }

  variant(k: number): string {
    return `sha256:${this.prefix.copy().update(BlobData.tailOf(k)).digest('hex')}`;
  }
}

async function main(): Promise<void> {
  const [base, ...paths] = process.argv.slice(2);
  if (base === undefined || paths.length === 0) throw new Error('usage: push-driver BASE FILE...');
  const files = await Promise.all(paths.map(async (path) => ({ path, data: await FileVariants.of(path) })));
  let stop = false;
  process.stdin.on('end', () => (stop = true)).resume();
  let pushes = 0;
  let k = 0;
  process.stdout.write('ready\n');
  await Promise.all(
    files.map(async (file, w) => {
      while (!stop) {
        await curlPush(base, `push/w${w}`, file, w * 1_000_000 + k++);
        pushes++;
      }
    }),
  );
  process.stdout.write(`pushes ${pushes}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`push-driver: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
