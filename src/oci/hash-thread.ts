/**
 * sha256/sha512 off the event loop. Hashing is most of the main thread's work
 * per pushed byte (about 0.6 ms per MiB with SHA-NI); on the event loop it
 * delays every other request while pushes run. One worker thread
 * (./hash-thread-worker.ts) keeps node:crypto hashes by id and applies
 * messages in order; a ThreadHash is this side's handle on one of them.
 *
 * update() resolves once the thread has hashed the bytes: the caller must not
 * change them before. Bytes in a SharedArrayBuffer (the upload spool's
 * buffers, ../storage/fs/direct-io.ts) are read in place; others are copied
 * at the call, so their owner may reuse them at once. The thread is started
 * on first use and keeps the process alive only while an answer is awaited.
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

class HashThread {
  private worker: Worker | undefined;
  private seq = 0;
  private ids = 0;
  private readonly waiting = new Map<number, Waiter>();

  newId(): number {
    return ++this.ids;
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

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
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

const thread = new HashThread();
/** Hashes whose handle was dropped without free() (an error path) are freed in the thread once it is collected. */
const dropped = new FinalizationRegistry<number>((id) => thread.send({ op: 'free', id }));

export class ThreadHash {
  private constructor(
    readonly id: number,
    readonly algorithm: DigestAlgorithm,
  ) {
    dropped.register(this, id, this);
  }

  static create(algorithm: DigestAlgorithm = 'sha256'): ThreadHash {
    const hash = new ThreadHash(thread.newId(), algorithm);
    thread.send({ op: 'create', id: hash.id, algorithm });
    return hash;
  }

  /** Resolves once the bytes are hashed (see the module comment on when they may change). */
  async update(data: Uint8Array): Promise<void> {
    if (data.buffer instanceof SharedArrayBuffer) {
      await thread.ask({ op: 'update', id: this.id, data });
      return;
    }
    const copy = new Uint8Array(data.byteLength);
    copy.set(data);
    await thread.ask({ op: 'update', id: this.id, data: copy }, [copy.buffer]);
  }

  /** An independent hash of everything fed so far. */
  copy(): ThreadHash {
    const copy = new ThreadHash(thread.newId(), this.algorithm);
    thread.send({ op: 'copy', id: copy.id, from: this.id });
    return copy;
  }

  /** The hex digest of everything fed so far; the hash stays usable. */
  async digest(): Promise<string> {
    const hex = await thread.ask({ op: 'digest', id: this.id });
    if (hex === undefined) throw new Error('hash thread: no digest');
    return hex;
  }

  /** Releases the thread's state (the handle must not be used after). */
  free(): void {
    dropped.unregister(this);
    thread.send({ op: 'free', id: this.id });
  }
}
