/**
 * sha256/sha512 off the event loop. Hashing is most of the main thread's work
 * per pushed byte (about 0.6 ms per MiB with SHA-NI); on the event loop it
 * delays every other request while pushes run. Worker threads
 * (./hash-thread-worker.ts) keep node:crypto hashes by id and apply messages
 * in order; a ThreadHash is this side's handle on one of them, on the thread
 * it was created on (a hash's state cannot move between threads; its copies
 * stay with it).
 *
 * One thread is started on first use. More are started, up to the pool's size,
 * only when a new hash would otherwise share a thread with a live one: one
 * sha256 is sequential, so parallel uploads go no faster than one thread
 * hashes unless they are spread. Threads past the first stop once they have
 * held no hash for IDLE_MS (each costs ~10 MiB of RSS). The size is set by the
 * composition root (`setHashThreads`, from `storage.blobs.hashThreads`); it is
 * 1 by default, since a second thread measured no faster on 2 cores, where the
 * pushers and the server already use both (docs/benchmarks.md, "Hashing
 * threads"): it is for machines with cores to spare and parallel pushes faster
 * than one core's sha256.
 *
 * update() resolves once the thread has hashed the bytes: the caller must not
 * change them before. Bytes in a SharedArrayBuffer (the upload spool's
 * buffers, ../storage/fs/direct-io.ts) are read in place; others are copied
 * at the call, so their owner may reuse them at once. A thread keeps the
 * process alive only while an answer is awaited.
 */
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from './digest.js';

export type HashRequest =
  | { op: 'create'; id: number; algorithm: DigestAlgorithm; seq?: number }
  | { op: 'copy'; id: number; from: number; seq?: number }
  | { op: 'update'; id: number; data: Uint8Array; seq?: number }
  | { op: 'digest'; id: number; seq: number }
  | { op: 'free'; id: number; seq?: number };

/** A request without its sequence number (added by ask()). */
type Unsequenced<T> = T extends unknown ? Omit<T, 'seq'> : never;

interface Reply {
  seq: number;
  hex?: string;
  error?: string;
}

interface Waiter {
  ok: (hex: string | undefined) => void;
  fail: (err: Error) => void;
}

/** A thread past the first stops after this long without a hash. */
export const IDLE_MS = 30_000;

class HashThread {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, Waiter>();
  /** Hashes created on this thread and not yet freed. */
  live = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Stopped by the pool: a handle still pointing here was freed, and its use fails. */
  private stopped = false;

  constructor(private readonly idle?: { ms: () => number; then: (thread: HashThread) => void }) {}

  get running(): boolean {
    return this.worker !== undefined;
  }

  /** A message that needs no answer. */
  send(msg: HashRequest, transfer?: ArrayBuffer[]): void {
    this.thread().postMessage(msg, transfer);
  }

  /** A message and its answer (the hex digest for `digest`). */
  ask(msg: Unsequenced<Exclude<HashRequest, { op: 'free' }>>, transfer?: ArrayBuffer[]): Promise<string | undefined> {
    const worker = this.thread();
    const seq = ++this.seq;
    return new Promise((ok, fail) => {
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(seq, { ok, fail });
      worker.postMessage({ ...msg, seq }, transfer);
    });
  }

  hold(): void {
    this.live++;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  release(): void {
    this.live--;
    const idle = this.idle;
    if (this.live > 0 || idle === undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.live === 0) idle.then(this);
    }, idle.ms());
    this.idleTimer.unref();
  }

  /** Ends the worker (only with no hash live on it). */
  stop(): void {
    this.stopped = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) void worker.terminate();
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    if (this.stopped) throw new Error('hash thread: the hash is not known (freed, and its thread has stopped)');
    const worker = new Worker(new URL('./hash-thread-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.seq);
      if (waiter === undefined) return;
      this.waiting.delete(reply.seq);
      if (this.waiting.size === 0) worker.unref();
      if (reply.error !== undefined) waiter.fail(new Error(`hash thread: ${reply.error}`));
      else waiter.ok(reply.hex);
    });
    // A thread that died takes its hashes with it: every waiting caller fails, the next use starts a new thread.
    const down = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of waiting) w.fail(err);
    };
    worker.on('error', down);
    worker.on('exit', (code) => down(new Error(`hash thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

class HashPool {
  private readonly threads: HashThread[] = [new HashThread()];
  private max = 1;
  private idleMs = IDLE_MS;

  setSize(size: number, idleMs = IDLE_MS): void {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash threads: ${size} is not a whole number ≥ 1`);
    this.max = size;
    this.idleMs = idleMs;
    // Threads past the first that hold nothing stop now; the others when they are idle.
    for (const t of this.threads.slice(1)) if (t.live === 0) this.retire(t);
  }

  get size(): number {
    return this.max;
  }

  /** How many threads are running now. */
  get running(): number {
    return this.threads.filter((t) => t.running).length;
  }

  /** The thread for a new hash: a free one, else a new one while the pool has room, else the least held. */
  pick(): HashThread {
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.live < best.live) best = t;
    if (best.live === 0 || this.threads.length >= this.max) return best;
    const thread = new HashThread({ ms: () => this.idleMs, then: (idle) => this.retire(idle) });
    this.threads.push(thread);
    return thread;
  }

  private retire(thread: HashThread): void {
    const k = this.threads.indexOf(thread);
    if (k <= 0) return;
    this.threads.splice(k, 1);
    thread.stop();
  }
}

const pool = new HashPool();
let ids = 0;

/**
 * The number of hashing threads, at most, and how long a thread past the first may hold no hash
 * before it stops; takes effect for hashes created after.
 */
export function setHashThreads(size: number, idleMs = IDLE_MS): void {
  pool.setSize(size, idleMs);
}

/** The pool's size and how many of its threads run now (tests read it). */
export function hashThreads(): { max: number; running: number } {
  return { max: pool.size, running: pool.running };
}

/** Hashes whose handle was dropped without free() (an error path) are freed in their thread once it is collected. */
const dropped = new FinalizationRegistry<{ thread: HashThread; id: number }>(({ thread, id }) => {
  thread.send({ op: 'free', id });
  thread.release();
});

export class ThreadHash {
  private constructor(
    readonly id: number,
    readonly algorithm: DigestAlgorithm,
    private readonly thread: HashThread,
  ) {
    thread.hold();
    dropped.register(this, { thread, id }, this);
  }

  static create(algorithm: DigestAlgorithm = 'sha256'): ThreadHash {
    const hash = new ThreadHash(++ids, algorithm, pool.pick());
    hash.thread.send({ op: 'create', id: hash.id, algorithm });
    return hash;
  }

  /** Resolves once the bytes are hashed (see the module comment on when they may change). */
  async update(data: Uint8Array): Promise<void> {
    if (data.buffer instanceof SharedArrayBuffer) {
      await this.thread.ask({ op: 'update', id: this.id, data });
      return;
    }
    const copy = new Uint8Array(data.byteLength);
    copy.set(data);
    await this.thread.ask({ op: 'update', id: this.id, data: copy }, [copy.buffer]);
  }

  /** An independent hash of everything fed so far (on the same thread). */
  copy(): ThreadHash {
    const copy = new ThreadHash(++ids, this.algorithm, this.thread);
    this.thread.send({ op: 'copy', id: copy.id, from: this.id });
    return copy;
  }

  /** The hex digest of everything fed so far; the hash stays usable. */
  async digest(): Promise<string> {
    const hex = await this.thread.ask({ op: 'digest', id: this.id });
    if (hex === undefined) throw new Error('hash thread: no digest');
    return hex;
  }

  /** Releases the thread's state (the handle must not be used after). */
  free(): void {
    if (!dropped.unregister(this)) return;
    this.thread.send({ op: 'free', id: this.id });
    this.thread.release();
  }
}
