/** The process logger: pino, JSON lines on stdout. */
import { pino, type Logger } from 'pino';
import type { Config } from './config/schema.js';

export function createLogger(level: Config['log']['level']): Logger {
  return pino({
    level,
    base: { service: 'unireg' },
    // Defence in depth: request logging never passes headers, but nothing named like a secret is printed.
    redact: { paths: ['*.authorization', '*.password', '*.token', 'headers.authorization'], censor: '[redacted]' },
  });
}
