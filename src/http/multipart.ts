/**
 * multipart/form-data for the pack endpoint, on busboy: named file parts stream
 * to files under tmp/ (never held in memory), small text parts are kept, and
 * everything is removed by `cleanup()`.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { RegistryError, RequestInvalidError } from '../storage/errors.js';
import { storageFailure } from '../storage/io-errors.js';

export interface MultipartSpec {
  /** File parts streamed to disk. */
  fileParts: readonly string[];
  /** File parts read into memory (e.g. a .config), at most `maxText` bytes each. */
  textParts: readonly string[];
  maxText: number;
  tmpPath: () => string;
}

export interface MultipartForm {
  fields: Map<string, string[]>;
  files: Map<string, string>;
  texts: Map<string, string>;
  cleanup(): Promise<void>;
}

export async function readMultipart(req: IncomingMessage, spec: MultipartSpec): Promise<MultipartForm> {
  const fields = new Map<string, string[]>();
  const files = new Map<string, string>();
  const texts = new Map<string, string>();
  const cleanup = async () => {
    for (const path of files.values()) await rm(path, { force: true });
  };
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { fields: 256, fieldSize: 64 * 1024, files: 8, parts: 300 } });
  } catch (err) {
    throw new RequestInvalidError(`malformed multipart request: ${(err as Error).message}`);
  }
  const writes: Promise<void>[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
  };
  parser.on('field', (name, value) => {
    const list = fields.get(name) ?? [];
    list.push(value);
    fields.set(name, list);
  });
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
    } else if (spec.textParts.includes(name) && !texts.has(name)) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > spec.maxText) fail(new RequestInvalidError(`part ${name} is larger than ${spec.maxText} bytes`));
        else chunks.push(chunk);
      });
      stream.on('end', () => texts.set(name, Buffer.concat(chunks).toString('utf8')));
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
    if (err instanceof RegistryError) throw err;
    throw new RequestInvalidError(`malformed multipart request: ${(err as Error).message}`);
  }
  if (failure) {
    await cleanup();
    throw failure;
  }
  return { fields, files, texts, cleanup };
}
