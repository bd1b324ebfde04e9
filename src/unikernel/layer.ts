/**
 * The bytes of a unikernel layer (format doc §3): a one-entry USTAR tar, exactly
 * as Go's archive/tar writes it for kraft (mtime 0, uid/gid 0, empty uname and
 * gname, devmajor/devminor as octal zero, data padded to 512, two zero blocks,
 * no padding to a 10 KiB record). Byte-identical layers dedupe with kraft's own.
 *
 * The pieces are separate so a big kernel can be streamed: write tarHeader(),
 * then the file bytes, then tarPadding(); hash the same stream for the digest.
 */
import { UnikernelInputError } from './errors.js';

export const BLOCK_SIZE = 512;
/** The largest size USTAR's 11 octal digits can hold (8 GiB - 1); Go would switch to PAX beyond it. */
export const MAX_FILE_SIZE = 0o77777777777;

const NAME_LENGTH = 100;
const PREFIX_LENGTH = 155;

/** Writes `value` as zero-padded octal into a `width`-byte field ending with NUL (Go's formatOctal). */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

/**
 * The name and prefix fields for `path` (leading `/` dropped). Long names are
 * split at a `/` the way Go's splitUSTARPath does.
 */
function splitName(path: string): { name: string; prefix: string } {
  const name = path.replace(/^\/+/, '');
  if (name === '' || !/^[\x20-\x7e]+$/.test(name)) {
    throw new UnikernelInputError('layer', `layer path ${JSON.stringify(path)} must be non-empty printable ASCII`);
  }
  if (name.length <= NAME_LENGTH) return { name, prefix: '' };
  let length = name.length;
  if (length > PREFIX_LENGTH + 1) length = PREFIX_LENGTH + 1;
  else if (name[length - 1] === '/') length--;
  const cut = name.lastIndexOf('/', length - 1);
  const suffixLength = name.length - cut - 1;
  if (cut <= 0 || suffixLength > NAME_LENGTH || suffixLength === 0 || cut > PREFIX_LENGTH) {
    throw new UnikernelInputError('layer', `layer path ${JSON.stringify(path)} is too long for USTAR`);
  }
  return { name: name.slice(cut + 1), prefix: name.slice(0, cut) };
}

/** The 512-byte header of a regular file of `size` bytes at `path` with permission bits `mode`. */
export function tarHeader(path: string, size: number, mode: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_SIZE) {
    throw new UnikernelInputError('layer', `file size ${size} does not fit a USTAR header`, { size });
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new UnikernelInputError('layer', `file mode ${mode} is not a permission mode`, { mode });
  }
  const { name, prefix } = splitName(path);
  const block = Buffer.alloc(BLOCK_SIZE);
  block.write(name, 0, NAME_LENGTH, 'ascii');
  writeOctal(block, 100, 8, mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0); // mtime
  block.write('0', 156, 1, 'ascii'); // typeflag: regular file
  // linkname (157..257) stays empty
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  // uname (265..297) and gname (297..329) stay empty
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  block.write(prefix, 345, PREFIX_LENGTH, 'ascii');
  // The checksum is computed with its own field as eight spaces, then written as
  // six octal digits, NUL, space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return block;
}

/** Bytes of zero padding after `size` data bytes to reach a block boundary. */
export function dataPadding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

/** What follows the file data: its padding to 512 bytes and the two zero end blocks. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(dataPadding(size) + 2 * BLOCK_SIZE);
}

/** The size of the layer of a file of `fileSize` bytes. */
export function layerSize(fileSize: number): number {
  return BLOCK_SIZE + fileSize + dataPadding(fileSize) + 2 * BLOCK_SIZE;
}

/** The whole layer in memory. For small files and tests only: stream big kernels through the pieces. */
export function layerBytes(path: string, data: Uint8Array, mode: number): Buffer {
  return Buffer.concat([tarHeader(path, data.length, mode), data, tarPadding(data.length)]);
}
