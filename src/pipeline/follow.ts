import { setTimeout as sleep } from 'node:timers/promises';
import type { LoaderError } from '../errors.js';
import { hourFromDate, hourToDate, hoursOf, lastAvailableHour, type HourRange, type UploadHour } from '../hour.js';
import type { ClaimSession } from '../state/hour-claims.js';
import { resumeHour } from '../state/hour-records.js';
import { backoffDelay, type HourContext } from './load-hour.js';
import { addSummary, emptySummary, loadRange, type RangeObserver, type RunSummary, type WarehouseContext } from './load-range.js';
import { foldAndVacuumPending } from './pending-upkeep.js';

const MS_PER_HOUR = 3_600_000;
// Once a new hour is due, ask a little after it turns, not on the dot.
const AFTER_HOUR_TURNS_MS = 15_000;

export interface SinceOptions {
  /**
   * `--since START`: every hour from START not yet done, holes included; undefined (`--since-last`):
   * from where the last run stopped (after the newest done hour, or the earliest failed one).
   */
  readonly since: UploadHour | undefined;
  readonly concurrency: number;
  readonly availabilityLagHours: number;
}

/** The range a `--since`/`--since-last` run covers now, or undefined when nothing is due. */
export async function dueRange(context: WarehouseContext, options: SinceOptions, now: Date): Promise<HourRange | 'no start' | undefined> {
  const start = options.since ?? (await resumeHour(context.pool, context.project).then((at) => (at === undefined ? undefined : hourFromDate(new Date(at)))));
  if (start === undefined) return 'no start';
  const first = start;
  const last = lastAvailableHour(now, options.availabilityLagHours);
  return first <= last ? { first, last } : undefined;
}

/**
 * Keeps loading: each new hour once it is past the availability lag, failed hours again with backoff,
 * through network and database outages, until `signal` stops it or the credentials are refused.
 */
export async function follow(
  context: HourContext,
  claims: ClaimSession,
  options: SinceOptions,
  signal: AbortSignal,
  observer: RangeObserver & { onPause(message: string): void },
): Promise<RunSummary> {
  const total = emptySummary();
  const started = Date.now();
  let troubledPasses = 0;
  // Every pass covers --since START whole (what is done is skipped by one lookup): an hour a database
  // outage kept from being recorded is still found.
  while (!signal.aborted) {
    let trouble: string | undefined;
    try {
      const range = await dueRange(context, options, new Date());
      if (range === 'no start') throw new Error('unreachable: follow requires a start');
      if (range) {
        const pass = await loadRange(
          {
            hours: hoursOf(range),
            concurrency: options.concurrency,
            reload: false,
            availabilityLagHours: options.availabilityLagHours,
            now: new Date(),
          },
          context,
          claims,
          signal,
          observer,
        );
        // What ends a pass (no hour reaches the Export API) is ridden out: the next pass comes after a pause.
        const passEnded = pass.stoppedBy?.scope === 'pass' ? pass.stoppedBy : undefined;
        if (passEnded) pass.stoppedBy = undefined;
        addSummary(total, pass);
        if (pass.stoppedBy) break;
        // A follower never reaches the end of a run: each pass that loaded hours leaves the rollups as
        // a run's end does.
        if (pass.hoursLoaded > 0) await foldAndVacuumPending(context.pool, context.project, context.notice, 'run');
        if (passEnded || pass.hoursFailed > 0) trouble = passEnded?.message ?? `${pass.hoursFailed} hour(s) failed`;
      }
    } catch (error) {
      trouble = (error as LoaderError).message;
    }
    troubledPasses = trouble === undefined ? 0 : troubledPasses + 1;
    const untilNextHour = MS_PER_HOUR - (Date.now() % MS_PER_HOUR) + AFTER_HOUR_TURNS_MS;
    const waitMs = trouble === undefined ? untilNextHour : Math.min(untilNextHour, backoffDelay(troubledPasses, context.retryDelayMs));
    observer.onPause(
      `${trouble ? `${trouble}; ` : ''}next pass in ${Math.round(waitMs / 1000)}s` + (trouble ? '' : ' (when the next hour becomes available)'),
    );
    await sleep(waitMs, undefined, { signal }).catch(() => {});
  }
  total.seconds = (Date.now() - started) / 1000;
  return total;
}
