/**
 * A map from 52-bit ids to numbers in two Float64Arrays, outside V8's heap: open
 * addressing with linear probing, at most half full, deletes shifting the following
 * entries back (no tombstones). 32 bytes per entry at the lowest fill, where a `Map`
 * per repository (./stored.ts before) took ~50 bytes per manifest plus a boxed number
 * each and ~500 bytes per repository, all on the heap that V8 grows in proportion to
 * what is alive.
 *
 * Ids must be integers in [0, 2^52): slot 0 of `keys` means empty, so id + 1 is stored.
 */
const MIN_CAPACITY = 1024;
const TWO_26 = 2 ** 26;

export class IdTable {
  private keys: Float64Array;
  private values: Float64Array;
  private count = 0;

  constructor(capacity = MIN_CAPACITY) {
    let c = MIN_CAPACITY;
    while (c < capacity) c *= 2;
    this.keys = new Float64Array(c);
    this.values = new Float64Array(c);
  }

  get size(): number {
    return this.count;
  }

  get(id: number): number | undefined {
    const slot = this.find(id + 1);
    return this.keys[slot] === 0 ? undefined : this.values[slot];
  }

  /** Stores `value` under `id`; returns the value it replaced. */
  set(id: number, value: number): number | undefined {
    if (!Number.isSafeInteger(id) || id < 0 || id >= 2 ** 52) throw new RangeError(`id out of range: ${id}`);
    const key = id + 1;
    const slot = this.find(key);
    if (this.keys[slot] !== 0) {
      const old = this.values[slot];
      this.values[slot] = value;
      return old;
    }
    this.keys[slot] = key;
    this.values[slot] = value;
    if (++this.count * 2 > this.keys.length) this.resize(this.keys.length * 2);
    return undefined;
  }

  /** Removes `id`; returns its value, or undefined when it was not there. */
  delete(id: number): number | undefined {
    let slot = this.find(id + 1);
    if (this.keys[slot] === 0) return undefined;
    const old = this.values[slot];
    const mask = this.keys.length - 1;
    // Backward shift: move later entries of the same run into the hole where their home allows.
    for (let next = (slot + 1) & mask; this.keys[next] !== 0; next = (next + 1) & mask) {
      const home = this.home(this.keys[next]!);
      const between = slot <= next ? home > slot && home <= next : home > slot || home <= next;
      if (between) continue;
      this.keys[slot] = this.keys[next]!;
      this.values[slot] = this.values[next]!;
      slot = next;
    }
    this.keys[slot] = 0;
    this.values[slot] = 0;
    this.count--;
    return old;
  }

  clear(): void {
    this.keys = new Float64Array(MIN_CAPACITY);
    this.values = new Float64Array(MIN_CAPACITY);
    this.count = 0;
  }

  private home(key: number): number {
    const lo = key % TWO_26;
    const hi = (key - lo) / TWO_26;
    return (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> 0) & (this.keys.length - 1);
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private find(key: number): number {
    const mask = this.keys.length - 1;
    let slot = this.home(key);
    while (this.keys[slot] !== 0 && this.keys[slot] !== key) slot = (slot + 1) & mask;
    return slot;
  }

  private resize(capacity: number): void {
    const { keys, values } = this;
    this.keys = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key === 0) continue;
      const slot = this.find(key);
      this.keys[slot] = key;
      this.values[slot] = values[i]!;
    }
  }
}
