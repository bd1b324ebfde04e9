/**
 * A small event for the end of a maintenance run (GC, retention): observers
 * such as the metrics (src/metrics/) subscribe without the run knowing them.
 */
export type RunOutcome<T> = { ok: true; report: T } | { ok: false; error: unknown };
export type RunListener<T> = (outcome: RunOutcome<T>) => void;

export class RunEvents<T> {
  private readonly listeners: RunListener<T>[] = [];

  on(listener: RunListener<T>): void {
    this.listeners.push(listener);
  }

  /** Tells every listener; a listener that throws cannot change the run's result. */
  emit(outcome: RunOutcome<T>): void {
    for (const listener of this.listeners) {
      try {
        listener(outcome);
      } catch {
        // An observer's fault is not the run's.
      }
    }
  }

  /** Runs `job` and reports how it ended; its result or error passes through unchanged. */
  async around(job: () => Promise<T>): Promise<T> {
    try {
      const report = await job();
      this.emit({ ok: true, report });
      return report;
    } catch (error) {
      this.emit({ ok: false, error });
      throw error;
    }
  }
}
