/**
 * Structural scans of JSON bytes, without recursion and without building values:
 * how deep a document nests (checked before JSON.parse, and before anything that
 * walks a parsed value recursively, as JSON.stringify does), and where the
 * elements of a top-level array field lie, so a filtered document can be
 * spliced from the exact bytes stored instead of being re-serialised.
 *
 * Both scans only track strings (with their escapes) and brackets, so they are
 * linear in the input and use constant stack whatever the nesting.
 */

/**
 * The deepest nesting of arrays and objects unireg accepts in a manifest or a
 * JSON request body. OCI manifests nest 5 or 6 levels (index > manifests >
 * descriptor > platform > os.features); 64 leaves room for any extension while
 * keeping every recursive walk of a parsed document far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** The index just past the closing quote of the string opening at `start`. */
function skipString(bytes: Uint8Array, start: number): number {
  let i = start + 1;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === BACKSLASH) i += 2;
    else if (b === QUOTE) return i + 1;
    else i++;
  }
  return i;
}

/**
 * The nesting depth of the JSON in `bytes` (0 for a scalar, 1 for `{}` or `[]`),
 * counting brackets outside strings. Stops as soon as the depth passes `limit`
 * and returns that depth, so a hostile document costs no more than its prefix.
 */
export function jsonDepth(bytes: Uint8Array, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      i = skipString(bytes, i);
      continue;
    }
    if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
    i++;
  }
  return max;
}

/** Whether a parsed value nests deeper than `limit` (walked with an explicit stack). */
export function valueDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

export interface Span {
  start: number;
  /** Exclusive. */
  end: number;
}

export interface ArraySpans {
  /** The array itself, brackets included. */
  array: Span;
  /** Each element, without surrounding whitespace. */
  elements: Span[];
}

/**
 * Where the array value of `key` in the top-level object lies, and each of its
 * elements. `bytes` must be valid JSON (parse it first). When the key occurs
 * twice the last one counts, as for JSON.parse. Undefined when the document is
 * not an object or the key's value is not an array.
 */
export function topLevelArraySpans(bytes: Uint8Array, key: string): ArraySpans | undefined {
  let depth = 0;
  let found: ArraySpans | undefined;
  let current: ArraySpans | undefined;
  let elementStart = -1;
  let pendingKey: string | undefined;
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i]!)) i++;
  if (bytes[i] !== OPEN_OBJECT) return undefined;
  const endElement = (end: number) => {
    let e = end;
    while (e > elementStart && isSpace(bytes[e - 1]!)) e--;
    if (current && elementStart >= 0 && e > elementStart) current.elements.push({ start: elementStart, end: e });
    elementStart = -1;
  };
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (current && depth === 2 && elementStart < 0 && !isSpace(b) && b !== COMMA && b !== CLOSE_ARRAY) elementStart = i;
    if (b === QUOTE) {
      const end = skipString(bytes, i);
      if (depth === 1) pendingKey = JSON.parse(Buffer.from(bytes.subarray(i, end)).toString('utf8')) as string;
      i = end - 1;
      continue;
    }
    if (b === COLON && depth === 1) continue;
    if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      depth++;
      if (depth === 2 && b === OPEN_ARRAY && pendingKey === key) {
        current = { array: { start: i, end: i }, elements: [] };
      }
      if (depth === 2) pendingKey = undefined;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      if (depth === 2 && current) {
        endElement(i);
        current.array.end = i + 1;
        found = current;
        current = undefined;
      }
      depth--;
    } else if (b === COMMA) {
      if (depth === 2 && current) endElement(i);
      if (depth === 1) pendingKey = undefined;
    }
  }
  return found;
}
