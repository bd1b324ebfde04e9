/**
 * The hashing thread (./hash-thread.ts): keeps node:crypto hashes by id and
 * applies the messages in the order they arrive. Every message with a `seq`
 * gets an answer with the same `seq` once it is done.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashRequest } from './hash-thread.js';

const hashes = new Map<number, Hash>();

function handle(msg: HashRequest): string | undefined {
  switch (msg.op) {
    case 'create':
      hashes.set(msg.id, createHash(msg.algorithm));
      return undefined;
    case 'copy': {
      const from = hashes.get(msg.from);
      if (from === undefined) throw new Error(`hash ${msg.from} is not known`);
      hashes.set(msg.id, from.copy());
      return undefined;
    }
    case 'update': {
      const hash = hashes.get(msg.id);
      if (hash === undefined) throw new Error(`hash ${msg.id} is not known`);
      hash.update(msg.data);
      return undefined;
    }
    case 'digest': {
      const hash = hashes.get(msg.id);
      if (hash === undefined) throw new Error(`hash ${msg.id} is not known`);
      return hash.copy().digest('hex');
    }
    case 'free':
      hashes.delete(msg.id);
      return undefined;
  }
}

parentPort!.on('message', (msg: HashRequest) => {
  try {
    const hex = handle(msg);
    if (msg.seq !== undefined) parentPort!.postMessage(hex === undefined ? { seq: msg.seq } : { seq: msg.seq, hex });
  } catch (err) {
    if (msg.seq !== undefined) parentPort!.postMessage({ seq: msg.seq, error: (err as Error).message });
  }
});
