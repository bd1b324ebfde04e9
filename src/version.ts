/** unireg's own version (package.json), for provenance and attestations. */
import { readFileSync } from 'node:fs';

/** Read once; compiled code lives in dist/src/, two levels below package.json. */
export const UNIREG_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
