/**
 * The value of an upload session record (key: keys.upload(id)): JSON of the session's
 * offset, times, and, when present, its running hash state and the upload area's state.
 * One putUpload stores all of them together, so a session's offset never advances
 * without the states that belong to it (any process may take the next chunk).
 */
import type { UploadSession } from '../types.js';

export function encodeUpload(session: UploadSession): Buffer {
  const value: UploadSession = {
    id: session.id,
    repo: session.repo,
    offset: session.offset,
    startedAt: session.startedAt,
    updatedAt: session.updatedAt,
    ...(session.hashState !== undefined ? { hashState: session.hashState } : {}),
    ...(session.areaState !== undefined ? { areaState: session.areaState } : {}),
  };
  return Buffer.from(JSON.stringify(value));
}

/** The session in a record value, or undefined when the value is not one (with the reason). */
export function checkUpload(value: unknown, id?: string): UploadSession | string {
  if (value === null || typeof value !== 'object') return 'not an upload session record';
  const s = value as Partial<UploadSession>;
  const numbers = [s.offset, s.startedAt, s.updatedAt].every((n) => typeof n === 'number');
  if (!numbers || typeof s.id !== 'string' || (id !== undefined && s.id !== id) || typeof s.repo !== 'string') return 'not an upload session record';
  if (s.hashState !== undefined && typeof s.hashState !== 'string') return 'the upload hash state is not a string';
  if (s.areaState !== undefined && typeof s.areaState !== 'string') return 'the upload area state is not a string';
  return s as UploadSession;
}

export function decodeUpload(value: Buffer, id?: string): UploadSession {
  const checked = checkUpload(JSON.parse(value.toString()) as unknown, id);
  if (typeof checked === 'string') throw new Error(`upload ${id ?? ''}: ${checked}`);
  return checked;
}
