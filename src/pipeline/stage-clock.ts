/** Seconds spent in each stage of an hour: what the bench and the JSON log report. */
// copy: transform + COPY into staging; insert: rows into events; copies: dedup's own bookkeeping.
export type StageName = 'download' | 'copy' | 'partitions' | 'dedup' | 'insert' | 'copies' | 'commit';
export type StageSeconds = Partial<Record<StageName, number>>;

export class StageClock {
  readonly seconds: StageSeconds = {};

  async time<T>(stage: StageName, action: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await action();
    } finally {
      this.seconds[stage] = (this.seconds[stage] ?? 0) + (performance.now() - started) / 1000;
    }
  }
}
