/** `gc.schedule`: a GC every interval (off by default), stopped with the server. */
import type { Logger } from 'pino';
import { durationMs, type Config } from '../config/schema.js';
import type { GarbageCollector } from './collector.js';

export interface GcSchedule {
  /** Clears the timer and stops a running GC (at its next step). */
  stop(): Promise<void>;
}

export function scheduleGc(gc: GarbageCollector, config: Config, log: Logger): GcSchedule {
  const every = config.gc.schedule === 'off' ? undefined : durationMs(config.gc.schedule);
  const timer =
    every === undefined
      ? undefined
      : setInterval(() => {
          gc.run().catch((err: unknown) => {
            const name = (err as Error).name;
            if (name === 'GcRunningError') log.info('scheduled gc skipped: a gc is already running');
            else if (name !== 'GcStoppedError') log.error({ err }, 'scheduled gc failed');
          });
        }, every);
  timer?.unref();
  if (every !== undefined) log.info({ every: config.gc.schedule }, 'gc scheduled');
  return {
    stop: async () => {
      if (timer !== undefined) clearInterval(timer);
      await gc.stop();
    },
  };
}
