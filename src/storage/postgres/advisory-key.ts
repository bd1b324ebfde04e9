/** A lock name as a PostgreSQL advisory lock key: the first 8 bytes of its sha256, as a signed bigint. */
import { createHash } from 'node:crypto';

export function advisoryKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}
