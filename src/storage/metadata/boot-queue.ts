/**
 * The boot-check queue's records over a SortedKv (key family `a`, ./keys.ts):
 * one record per queued variant manifest, under a sequence number that only
 * grows, so a prefix scan lists the queue in the order it was filled. The first
 * queueing after open restarts the sequence above every stored job and above
 * the clock (µs since the epoch), so no key is reused.
 */
import type { Digest } from '../../oci/digest.js';
import type { KvOp, SortedKv } from '../kv.js';
import type { BootJob, PageRequest } from '../types.js';
import { keys } from './keys.js';

interface JobRecord {
  repo: string;
  manifest: Digest;
  enqueuedAt: number;
  attempts: number;
}

function decode(key: string, value: Buffer): BootJob {
  const record = JSON.parse(value.toString('utf8')) as JobRecord;
  return { key, repo: record.repo, manifest: record.manifest, enqueuedAt: record.enqueuedAt, attempts: record.attempts };
}

const encode = (job: JobRecord) => Buffer.from(JSON.stringify(job));

export class BootQueueRecords {
  private seq: Promise<{ next: number }> | undefined;

  constructor(private readonly kv: SortedKv) {}

  /** Forgets the sequence (the store was reopened). */
  reset(): void {
    this.seq = undefined;
  }

  private async nextSeqs(n: number): Promise<number> {
    this.seq ??= (async () => {
      // The highest key sorts last: one reverse read would do, but SortedKv has none; the queue is short.
      let max = 0;
      let last: string | undefined;
      for (;;) {
        const page = await this.kv.keys({ ...keys.bootJobs(last), limit: 10_000 });
        for (const key of page) if (keys.isBootJob(key)) max = Math.max(max, keys.seqOfBootJob(key) || 0);
        if (page.length < 10_000) break;
        last = page.at(-1);
      }
      return { next: Math.max(max + 1, Date.now() * 1000) };
    })();
    const counter = await this.seq;
    const first = counter.next;
    counter.next += n;
    return first;
  }

  async enqueueOps(jobs: readonly { repo: string; manifest: Digest }[]): Promise<KvOp[]> {
    if (jobs.length === 0) return [];
    const first = await this.nextSeqs(jobs.length);
    const now = Date.now();
    return jobs.map((job, i) => ({
      type: 'put',
      key: keys.bootJob(first + i),
      value: encode({ repo: job.repo, manifest: job.manifest, enqueuedAt: now, attempts: 0 }),
    }));
  }

  async list(page: PageRequest): Promise<BootJob[]> {
    if (page.limit <= 0) return [];
    const entries = await this.kv.entries({ ...keys.bootJobs(page.last), limit: page.limit });
    return entries.map(([key, value]) => decode(key, value));
  }

  /** The job with one more attempt, and the op that stores it; undefined when the job is gone. */
  async startOps(key: string): Promise<{ job: BootJob; ops: KvOp[] } | undefined> {
    if (!keys.isBootJob(key)) return undefined;
    const value = await this.kv.get(key);
    if (value === undefined) return undefined;
    const job = decode(key, value);
    job.attempts += 1;
    const record: JobRecord = { repo: job.repo, manifest: job.manifest, enqueuedAt: job.enqueuedAt, attempts: job.attempts };
    return { job, ops: [{ type: 'put', key, value: encode(record) }] };
  }
}
