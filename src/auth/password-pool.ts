/**
 * PasswordPool: bcrypt off the event loop. A check costs ~55 ms of CPU at cost
 * 10; run on the event loop, a handful of wrong passwords from a few addresses
 * stalled every other request (a logged-in pull went from 2 ms to 509 ms).
 *
 * Up to `threads` worker threads (./password-worker.ts) run one comparison each;
 * up to `queue` more wait their turn; a check beyond that is refused at once with
 * OverloadedError (503 TOOMANYREQUESTS, Retry-After), so a flood of wrong
 * passwords costs bounded CPU and memory and never delays requests that need no
 * check. Threads start on demand, exit after IDLE_MS without work, and keep the
 * process alive only while they work.
 */
import { Worker } from 'node:worker_threads';
import { OverloadedError } from '../domain/errors.js';

export type PasswordTask = { op: 'compare'; password: string; hash: string } | { op: 'hash'; password: string; cost: number };
export type PasswordReply = { ok: true; value: boolean | string } | { ok: false; message: string };

interface Job {
  task: PasswordTask;
  resolve(value: boolean | string): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  job: Job | undefined;
  idle: NodeJS.Timeout | undefined;
}

const IDLE_MS = 30_000;
const WORKER_FILE = new URL('./password-worker.js', import.meta.url);

export class PasswordPool {
  private readonly threads = new Set<Thread>();
  private readonly waiting: Job[] = [];

  constructor(
    private readonly maxThreads: number,
    private readonly maxQueue: number,
  ) {}

  /** Checks in flight or waiting (for tests and metrics). */
  get pending(): number {
    return this.waiting.length + [...this.threads].filter((t) => t.job).length;
  }

  /** bcrypt comparison; rejects with OverloadedError when the queue is full. */
  async compare(password: string, hash: string): Promise<boolean> {
    return (await this.run({ op: 'compare', password, hash }, true)) as boolean;
  }

  /** A new bcrypt hash (the directory's dummy hash); never refused. */
  async hash(password: string, cost: number): Promise<string> {
    return (await this.run({ op: 'hash', password, cost }, false)) as string;
  }

  private run(task: PasswordTask, bounded: boolean): Promise<boolean | string> {
    return new Promise((resolve, reject) => {
      const job: Job = { task, resolve, reject };
      const free = [...this.threads].find((t) => !t.job);
      if (free) return this.give(free, job);
      if (this.threads.size < this.maxThreads) return this.give(this.spawn(), job);
      if (bounded && this.waiting.length >= this.maxQueue) {
        return reject(new OverloadedError('too many password checks waiting', 1, { queue: this.maxQueue }));
      }
      this.waiting.push(job);
    });
  }

  private spawn(): Thread {
    const worker = new Worker(WORKER_FILE);
    const thread: Thread = { worker, job: undefined, idle: undefined };
    worker.on('message', (reply: PasswordReply) => {
      const job = thread.job;
      thread.job = undefined;
      if (job) {
        if (reply.ok) job.resolve(reply.value);
        else job.reject(new Error(`password check failed: ${reply.message}`));
      }
      this.next(thread);
    });
    const lost = (err: Error) => {
      if (!this.threads.delete(thread)) return;
      clearTimeout(thread.idle);
      thread.job?.reject(err);
      thread.job = undefined;
      // Whoever waits gets a new thread.
      const job = this.waiting.shift();
      if (job) this.give(this.spawn(), job);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`password worker exited (code ${code})`)));
    this.threads.add(thread);
    return thread;
  }

  private give(thread: Thread, job: Job): void {
    clearTimeout(thread.idle);
    thread.idle = undefined;
    thread.job = job;
    // Referenced while it works (its answer is awaited), unreferenced when idle.
    thread.worker.ref();
    thread.worker.postMessage(job.task);
  }

  private next(thread: Thread): void {
    const job = this.waiting.shift();
    if (job) return this.give(thread, job);
    thread.worker.unref();
    thread.idle = setTimeout(() => {
      this.threads.delete(thread);
      void thread.worker.terminate();
    }, IDLE_MS);
    thread.idle.unref();
  }
}
