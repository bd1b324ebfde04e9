/**
 * Direct (O_DIRECT) writes of upload bytes: whole, block-aligned buffers go
 * from the spool's buffer to the disk without passing through the page cache.
 *
 * Why: every upload byte is fsynced before the blob is acknowledged. Written
 * through the page cache, each byte is first copied into a newly allocated
 * cache page and then written back by the fsync; written directly, it goes to
 * the device once, and the closing fsync has only the file's metadata left.
 * Measured on the development VM (ext4 on virtio): 256 MiB made durable in
 * 0.13–0.25 s directly against 0.45–0.9 s through the page cache (allocating
 * new cache pages was most of that). A large upload also no longer pushes hot
 * manifests and blobs out of the page cache. The price: the first read of a
 * freshly pushed blob comes from the disk instead of the cache.
 *
 * O_DIRECT needs the memory, the file offset and the length aligned to the
 * device's logical block size: buffers come from page-aligned (shared)
 * WebAssembly memories (ordinary Node buffers give no alignment), the spool sends only
 * whole aligned buffers this way and everything else (the tail, an unaligned
 * start) through the ordinary handle. A file system that refuses O_DIRECT
 * (EINVAL at open or at the first write) gets ordinary writes: nothing else
 * changes.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Offsets and lengths of direct writes are multiples of this (covers 512- and 4096-byte sectors). */
export const DIRECT_ALIGN = 4096;

const WASM_PAGE = 65536;
/** Buffers carved from one WebAssembly memory. */
const SLAB_BUFFERS = 8;
/** At most this many memories: beyond them (very many uploads at once) spools get ordinary buffers. */
const MAX_SLABS = 8;

/** A free list of page-aligned buffers of one size; a released buffer is reused, never freed. */
export class AlignedBuffers {
  private readonly free: Buffer[] = [];
  private readonly own = new WeakSet<Buffer>();
  private slabs = 0;
  private taken = 0;
  private peak = 0;

  constructor(readonly size: number) {
    if (size % WASM_PAGE !== 0) throw new Error(`aligned buffers are whole multiples of ${WASM_PAGE} bytes`);
  }

  /** A page-aligned buffer if one is free or can be made, else an ordinary one (written through the page cache). */
  take(): Buffer {
    this.taken++;
    this.peak = Math.max(this.peak, this.taken);
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.slabs < MAX_SLABS) {
      this.slabs++;
      // Shared: the hashing thread (src/oci/hash-thread.ts) reads the bytes in place.
      const pages = (this.size * SLAB_BUFFERS) / WASM_PAGE;
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      for (let k = 1; k < SLAB_BUFFERS; k++) this.adopt(Buffer.from(memory.buffer, k * this.size, this.size));
      const first = Buffer.from(memory.buffer, 0, this.size);
      this.own.add(first);
      return first;
    }
    return Buffer.allocUnsafe(this.size);
  }

  /** Whether `buffer` is one of the aligned ones. */
  aligned(buffer: Buffer): boolean {
    return this.own.has(buffer);
  }

  give(buffer: Buffer): void {
    this.taken--;
    if (this.own.has(buffer)) this.free.push(buffer);
  }

  /** Buffers handed out and not given back (aligned or not). */
  get inUse(): number {
    return this.taken;
  }

  /** The most buffers ever in use at once: what the pool's memory grew to. */
  get peakInUse(): number {
    return this.peak;
  }

  private adopt(buffer: Buffer): void {
    this.own.add(buffer);
    this.free.push(buffer);
  }
}

/**
 * A second handle on an existing file, opened for direct writes; undefined when
 * the platform or the file system does not offer them (the caller writes as usual).
 */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  const flag = constants.O_DIRECT;
  if (flag === undefined || flag === 0) return undefined;
  try {
    return await open(path, constants.O_WRONLY | flag);
  } catch {
    return undefined;
  }
}

/** Whether a write error means "not this way" (alignment or O_DIRECT refused), so the bytes go the ordinary way. */
export function refusedDirect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}
