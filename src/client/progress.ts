/**
 * Upload progress on one updating line of stderr (`\r`, then the line cleared),
 * shown only when stderr is a terminal: pipes and logs get nothing.
 */
import type { WriteStream } from 'node:tty';

const MB = 1_000_000;

export interface Progress {
  update(sent: number, total: number): void;
  /** Clears the line (called once the upload is over, whatever happened). */
  done(): void;
}

const SILENT: Progress = { update() {}, done() {} };

export function formatProgress(label: string, sent: number, total: number, seconds: number): string {
  const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
  const rate = seconds > 0 ? sent / MB / seconds : 0;
  return `uploading ${String(percent).padStart(3)}%  ${(sent / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB  ${rate.toFixed(1)} MB/s  ${label}`;
}

/** A progress line on `stream` when it is a TTY, else a no-op. */
export function progressLine(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return SILENT;
  const tty = stream as WriteStream;
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(sent, total) {
      const now = Date.now();
      if (sent < total && now - last < 100) return;
      last = now;
      shown = true;
      const line = formatProgress(label, sent, total, (now - started) / 1000);
      tty.write(`\r${line.slice(0, Math.max(20, (tty.columns || 80) - 1))}\x1b[K`);
    },
    done() {
      if (shown) tty.write('\r\x1b[K');
      shown = false;
    },
  };
}
