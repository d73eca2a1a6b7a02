import { AbortedError, AuthRefusedError } from '../errors.js';
import { formatHour, hourToDate, hoursOf, lastAvailableHour, type HourRange, type UploadHour } from '../hour.js';
import { finishedHours } from '../state/hour-records.js';
import { loadHour, type HourContext, type HourOutcome } from './load-hour.js';

export interface RangeOptions {
  readonly range: HourRange;
  readonly concurrency: number;
  readonly reload: boolean;
  readonly availabilityLagHours: number;
  readonly now: Date;
}

export interface RunSummary {
  hoursLoaded: number;
  hoursEmpty: number;
  hoursFailed: number;
  /** Loaded or empty in an earlier run; not requested again. */
  hoursAlreadyDone: number;
  /** Ended too recently to be complete on Amplitude's side; not requested, not recorded. */
  hoursNotYetAvailable: number;
  /** Not finished because the run stopped (refused credentials, interruption). */
  hoursInterrupted: number;
  eventsRead: number;
  rowsInserted: number;
  duplicatesUuid: number;
  duplicatesInsertId: number;
  rowsSuperseded: number;
  rejectedLines: number;
  sanitizedValues: number;
  bytesDownloaded: number;
  seconds: number;
  failures: { hour: string; message: string }[];
  /** Set when the Export API refused the credentials: the run stopped there. */
  authError: AuthRefusedError | undefined;
}

export function emptySummary(): RunSummary {
  return {
    hoursLoaded: 0,
    hoursEmpty: 0,
    hoursFailed: 0,
    hoursAlreadyDone: 0,
    hoursNotYetAvailable: 0,
    hoursInterrupted: 0,
    eventsRead: 0,
    rowsInserted: 0,
    duplicatesUuid: 0,
    duplicatesInsertId: 0,
    rowsSuperseded: 0,
    rejectedLines: 0,
    sanitizedValues: 0,
    bytesDownloaded: 0,
    seconds: 0,
    failures: [],
    authError: undefined,
  };
}

function addOutcome(summary: RunSummary, outcome: HourOutcome): void {
  if (outcome.status === 'failed') {
    summary.hoursFailed++;
    summary.failures.push({ hour: formatHour(outcome.hour), message: outcome.error.message });
    return;
  }
  if (outcome.status === 'loaded') summary.hoursLoaded++;
  else summary.hoursEmpty++;
  const c = outcome.counters;
  summary.eventsRead += c.eventsRead;
  summary.rowsInserted += c.rowsInserted;
  summary.duplicatesUuid += c.duplicatesUuid;
  summary.duplicatesInsertId += c.duplicatesInsertId;
  summary.rowsSuperseded += c.rowsSuperseded;
  summary.rejectedLines += c.rejectedLines;
  summary.sanitizedValues += c.sanitizedValues;
  summary.bytesDownloaded += c.bytesDownloaded;
}

/**
 * Loads every hour of the range that is available and not yet done, up to `concurrency` at a time,
 * oldest first. Hours fail independently; refused credentials stop the whole run at once.
 */
export async function loadRange(
  options: RangeOptions,
  context: HourContext,
  signal: AbortSignal,
  onOutcome: (outcome: HourOutcome) => void,
): Promise<RunSummary> {
  const started = Date.now();
  const summary = emptySummary();
  const lastAvailable = lastAvailableHour(options.now, options.availabilityLagHours);
  const candidates = hoursOf(options.range);
  const available = candidates.filter((h) => h <= lastAvailable);
  summary.hoursNotYetAvailable = candidates.length - available.length;

  let queue: UploadHour[] = available;
  if (!options.reload && available.length > 0) {
    const done = await finishedHours(
      context.pool,
      context.schema,
      hourToDate(available[0] as UploadHour).toISOString(),
      hourToDate(available[available.length - 1] as UploadHour).toISOString(),
    );
    queue = available.filter((h) => !done.has(hourToDate(h).toISOString()));
    summary.hoursAlreadyDone = available.length - queue.length;
  }

  // Refused credentials stop hours already in flight too: they would only be refused as well.
  const stop = new AbortController();
  const runSignal = AbortSignal.any([signal, stop.signal]);
  let next = 0;
  const worker = async () => {
    while (next < queue.length && !runSignal.aborted) {
      const hour = queue[next++] as UploadHour;
      try {
        const outcome = await loadHour(hour, context, runSignal);
        addOutcome(summary, outcome);
        onOutcome(outcome);
      } catch (error) {
        if (error instanceof AuthRefusedError) {
          summary.authError ??= error;
          stop.abort();
        } else if (!(error instanceof AbortedError)) {
          throw error;
        }
        summary.hoursInterrupted++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, Math.max(queue.length, 1)) }, worker));
  summary.hoursInterrupted += queue.length - next;
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}
