/** The static files of the UI: htmx from its npm package, the stylesheet and script compiled with the server. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SCRIPT, STYLESHEET } from './style.js';

export interface Asset {
  type: string;
  body: Buffer;
}

let htmx: Buffer | undefined;

/** htmx.min.js from node_modules/htmx.org (a production dependency), read once. */
function htmxBytes(): Buffer {
  if (htmx === undefined) {
    const main = createRequire(import.meta.url).resolve('htmx.org');
    htmx = readFileSync(join(dirname(main), 'htmx.min.js'));
  }
  return htmx;
}

export function asset(name: string): Asset | undefined {
  switch (name) {
    case 'htmx.min.js':
      return { type: 'text/javascript; charset=utf-8', body: htmxBytes() };
    case 'ui.js':
      return { type: 'text/javascript; charset=utf-8', body: Buffer.from(SCRIPT) };
    case 'ui.css':
      return { type: 'text/css; charset=utf-8', body: Buffer.from(STYLESHEET) };
    default:
      return undefined;
  }
}
