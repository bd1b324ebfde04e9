/**
 * multipart/form-data for the pack endpoint, on busboy: named file parts stream
 * to files under tmp/ (never held in memory), text parts and fields are kept,
 * and the files are removed by `cleanup()`.
 *
 * Nothing is cut silently: a field or text part larger than its limit, and a
 * form with more fields, files or parts than the limits below, is refused with a
 * 400 naming the field or the limit. What is kept in memory is counted against
 * the body budget (./body-budget.ts) as it arrives, plus one field's worth up
 * front for the field busboy is gathering.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { RegistryError, RequestInvalidError } from '../domain/errors.js';
import { storageFailure } from '../storage/io-errors.js';
import type { BodyLease } from './body-budget.js';

/** At most this many fields, file parts and parts in all per form. */
export const MULTIPART_LIMITS = { fields: 256, files: 8, parts: 300 } as const;

export interface MultipartSpec {
  /** File parts streamed to disk. */
  fileParts: readonly string[];
  /** Parts kept in memory whole (e.g. a .config), sent as a file part or a field: name → largest size in bytes. */
  textParts: Readonly<Record<string, number>>;
  /** Largest value of any other field, in bytes. */
  maxField: number;
  /** Where the bytes kept in memory are counted. */
  lease: BodyLease;
  tmpPath: () => string;
}

export interface MultipartForm {
  fields: Map<string, string[]>;
  files: Map<string, string>;
  /** Text parts sent as file parts. */
  texts: Map<string, string>;
  cleanup(): Promise<void>;
}

function tooLarge(name: string, limit: number): RequestInvalidError {
  return new RequestInvalidError(`field ${name} is larger than its limit of ${limit} bytes`, { field: name, limit });
}

function tooMany(what: keyof typeof MULTIPART_LIMITS): RequestInvalidError {
  const limit = MULTIPART_LIMITS[what];
  return new RequestInvalidError(`the form has more than ${limit} ${what}`, { limit: `${what}: ${limit}` });
}

export async function readMultipart(req: IncomingMessage, spec: MultipartSpec): Promise<MultipartForm> {
  const fields = new Map<string, string[]>();
  const files = new Map<string, string>();
  const texts = new Map<string, string>();
  const cleanup = async () => {
    for (const path of files.values()) await rm(path, { force: true });
  };
  const limitOf = (name: string) => spec.textParts[name] ?? spec.maxField;
  const fieldSize = Math.max(spec.maxField, ...Object.values(spec.textParts));
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { ...MULTIPART_LIMITS, fieldSize } });
  } catch (err) {
    throw new RequestInvalidError(`malformed multipart request: ${(err as Error).message}`);
  }
  const writes: Promise<void>[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
  };
  /** Counts `bytes` against the budget; false (and the request fails) when it has not got them. */
  const keep = (bytes: number): boolean => {
    try {
      spec.lease.grow(bytes);
      return true;
    } catch (err) {
      fail(err as Error);
      return false;
    }
  };
  // The field busboy is gathering is in memory before we see it.
  const declared = Number(req.headers['content-length']);
  if (!keep(Number.isFinite(declared) ? Math.min(declared, fieldSize) : fieldSize)) throw failure!;

  parser.on('field', (name, value, info) => {
    if (failure) return;
    const size = Buffer.byteLength(value);
    if (info.valueTruncated || size > limitOf(name)) return fail(tooLarge(name, limitOf(name)));
    if (!keep(size)) return;
    const list = fields.get(name) ?? [];
    list.push(value);
    fields.set(name, list);
  });
  parser.on('fieldsLimit', () => fail(tooMany('fields')));
  parser.on('filesLimit', () => fail(tooMany('files')));
  parser.on('partsLimit', () => fail(tooMany('parts')));
  parser.on('file', (name, stream) => {
    // A form cut off inside a part errors the part's stream too: always listened to, never thrown.
    stream.on('error', fail);
    if (spec.fileParts.includes(name) && !files.has(name)) {
      const path = spec.tmpPath();
      files.set(name, path);
      writes.push(
        pipeline(stream, createWriteStream(path, { highWaterMark: 1 << 20 })).catch((err: Error) => {
          // A write that failed (a full disk) is a storage error, not a malformed request; busboy
          // would wait for the abandoned part forever, so parsing stops with it.
          const storage = storageFailure(err);
          fail(storage ?? err);
          if (storage) parser.destroy(storage);
        }),
      );
    } else if (name in spec.textParts && !texts.has(name)) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        if (failure) return;
        size += chunk.length;
        if (size > limitOf(name)) fail(tooLarge(name, limitOf(name)));
        else if (keep(chunk.length)) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (!failure) texts.set(name, Buffer.concat(chunks).toString('utf8'));
      });
    } else {
      fail(new RequestInvalidError(`unexpected or repeated file part ${name}`, { part: name }));
      stream.resume();
    }
  });
  try {
    await pipeline(req, parser);
    await Promise.all(writes);
  } catch (err) {
    await cleanup();
    throw asRequestError(failure ?? (err as Error));
  }
  if (failure) {
    await cleanup();
    throw asRequestError(failure);
  }
  return { fields, files, texts, cleanup };
}

/**
 * Our own refusals as they are; a file-system failure (a write that hit a full disk, which may reach
 * us first through the part's stream) as its storage error; anything else the parser or a part
 * stream raised is a malformed form.
 */
function asRequestError(err: Error): Error {
  if (err instanceof RegistryError) return err;
  return storageFailure(err) ?? new RequestInvalidError(`malformed multipart request: ${err.message}`);
}
