/**
 * What loading an hour counts. One type: the transform, dedup, the bookkeeping, the log and the run
 * summary each use it or a part of it, and sum it with `addCounters`.
 */
export interface HourCounters {
  /** Non-blank lines read. */
  eventsRead: number;
  /** This hour's copies that ended as rows of `events`. */
  rowsInserted: number;
  /** This hour's copies dropped as duplicates by uuid. */
  duplicatesUuid: number;
  /** This hour's copies dropped as duplicates by $insert_id. */
  duplicatesInsertId: number;
  /** Rows of other hours this hour's copies replaced (uploaded earlier, they win). */
  rowsSuperseded: number;
  /** Copies of other hours that came back into `events` because of this hour (a reload removed what had displaced them). */
  rowsRestored: number;
  rejectedLines: number;
  sanitizedValues: number;
  bytesDownloaded: number;
  /** Entries read. */
  archiveEntries: number;
  /** Entries passed over: their names say they are not NDJSON. */
  entriesSkipped: number;
}

/** What reading the lines of an entry counts. */
export type LineCounters = Pick<HourCounters, 'eventsRead' | 'rejectedLines' | 'sanitizedValues'>;

/** What deduplication did to the table. */
export type DedupCounters = Pick<HourCounters, 'rowsInserted' | 'duplicatesUuid' | 'duplicatesInsertId' | 'rowsSuperseded' | 'rowsRestored'>;

export function zeroCounters(): HourCounters {
  return {
    eventsRead: 0,
    rowsInserted: 0,
    duplicatesUuid: 0,
    duplicatesInsertId: 0,
    rowsSuperseded: 0,
    rowsRestored: 0,
    rejectedLines: 0,
    sanitizedValues: 0,
    bytesDownloaded: 0,
    archiveEntries: 0,
    entriesSkipped: 0,
  };
}

/** Adds every counter of `part` into `total`. */
export function addCounters(total: HourCounters, part: Partial<HourCounters>): HourCounters {
  for (const key of Object.keys(part) as (keyof HourCounters)[]) total[key] += part[key] ?? 0;
  return total;
}
