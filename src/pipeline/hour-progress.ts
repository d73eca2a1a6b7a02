import type { LineCounters } from '../counters.js';
import type { UploadHour } from '../hour.js';

/** Where an hour in flight is, for a person watching: counted as it goes, read by the run log's timer. */
export interface HourProgress {
  readonly hour: UploadHour;
  readonly startedAt: number;
  phase: 'downloading' | 'loading' | 'settling';
  bytesDownloaded: number;
  /** The answer's Content-Length, when it gave one. */
  bytesExpected: number | undefined;
  /** When the download ended, for its rate. */
  downloadedAt: number | undefined;
  /** The hour's counters while it loads: their lines read so far. */
  counters: Pick<LineCounters, 'eventsRead'> | undefined;
  /** NDJSON bytes read so far. */
  ndjsonBytes: number;
}

/** The hours in flight and how far each is; plain fields, so counting costs an addition. */
export class ProgressBoard {
  private readonly hours = new Map<UploadHour, HourProgress>();

  start(hour: UploadHour): HourProgress {
    const progress: HourProgress = {
      hour,
      startedAt: Date.now(),
      phase: 'downloading',
      bytesDownloaded: 0,
      bytesExpected: undefined,
      downloadedAt: undefined,
      counters: undefined,
      ndjsonBytes: 0,
    };
    this.hours.set(hour, progress);
    return progress;
  }

  finish(hour: UploadHour): void {
    this.hours.delete(hour);
  }

  /** The hours in flight, oldest first. */
  inFlight(): HourProgress[] {
    return [...this.hours.values()].sort((a, b) => a.hour - b.hour);
  }
}
