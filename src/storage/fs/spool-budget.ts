/**
 * How many buffers each upload spool (./spool.ts) may hold. Every spool gets
 * `min` (one fills from the socket while the other is written). While all
 * spools together hold fewer than `budget`, a spool whose writes lag behind
 * the socket may take extras, up to `max`, to keep more writes in flight.
 *
 * Memory stays what `budget` says when spools come and go: a new spool that
 * finds the budget spent while others hold extras does not allocate; the
 * holders give back their idle extras at once and the ones being written as
 * their writes complete (milliseconds), and the new spool takes those. Only
 * when nobody holds extras does a spool get its `min` beyond the budget (more
 * uploads at once than budget / min), as it always did.
 */
import type { AlignedBuffers } from './direct-io.js';

/** A spool as the budget sees it. */
export interface BufferHolder {
  /** Buffers it holds now (filling, being written, or idle). */
  readonly held: number;
  /** Gives back (with release()) the idle buffers it holds beyond `min`. */
  shedIdle(): void;
}

export class SpoolBudget {
  private readonly holders = new Set<BufferHolder>();
  private readonly waiting: Array<(buffer: Buffer) => void> = [];

  constructor(
    private readonly pool: AlignedBuffers,
    readonly min: number,
    readonly max: number,
    readonly budget: number,
  ) {}

  /** One of a spool's first `min` buffers (see the module comment for when it waits). */
  async need(holder: BufferHolder): Promise<Buffer> {
    this.holders.add(holder);
    const now = () => this.pool.inUse < this.budget || !this.extrasHeld(holder);
    if (now()) return this.pool.take();
    for (const other of this.holders) if (other !== holder) other.shedIdle();
    if (now()) return this.pool.take();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** An extra buffer for a spool that has none free, if the budget allows; else undefined. */
  extra(holder: BufferHolder): Buffer | undefined {
    if (holder.held >= this.max || this.pool.inUse >= this.budget || this.waiting.length > 0) return undefined;
    return this.pool.take();
  }

  /** Whether a spool whose write just completed should give that buffer back rather than reuse it. */
  shouldShed(holder: BufferHolder): boolean {
    return holder.held > this.min && (this.waiting.length > 0 || this.pool.inUse > this.budget);
  }

  /**
   * A buffer the spool no longer holds: to a spool waiting for one, else to the pool. Once no spool holds
   * extras any more, the spools still waiting get theirs at once (there is nothing left to wait for).
   */
  release(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(buffer);
    else this.pool.give(buffer);
    while (this.waiting.length > 0 && !this.extrasHeld()) this.waiting.shift()!(this.pool.take());
  }

  /** The spool has released everything it held. */
  done(holder: BufferHolder): void {
    this.holders.delete(holder);
  }

  private extrasHeld(except?: BufferHolder): boolean {
    for (const h of this.holders) if (h !== except && h.held > this.min) return true;
    return false;
  }
}
