/**
 * Seconds spent in each stage of an hour: what the bench and the JSON log report.
 * copy: transform and COPY into events; probe: the history probes, outside any lock;
 * tally: the hour's own changes to the rollups, appended outside any lock; lock: waiting for the dedup
 * lock; settle: what happens holding it (contested keys, their moves, the users who lost a row, the
 * bookkeeping); commit: COMMIT, which releases it; rollups: the fold after commit, outside any lock;
 * brin: summarizing the BRIN ranges the hour filled, after commit.
 */
export type StageName = 'download' | 'copy' | 'partitions' | 'probe' | 'tally' | 'lock' | 'settle' | 'rollups' | 'commit' | 'brin';
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
