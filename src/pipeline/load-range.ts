import type pg from 'pg';
import type { ProjectTarget } from '../db/loader-schema.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { addCounters, zeroCounters, type HourCounters } from '../counters.js';
import { AbortedError, DownloadError, ExportUnreachableError, type LoaderError } from '../errors.js';
import { formatHour, hourToDate, lastAvailableHour, type UploadHour } from '../hour.js';
import type { ClaimResult, ClaimSession } from '../state/hour-claims.js';
import { finishedHours } from '../state/hour-records.js';
import { backoffDelay, loadHour, type HourContext, type HourOutcome } from './load-hour.js';

export interface RangeOptions {
  /** The hours to load, oldest first: a range's, or those found on disk. */
  readonly hours: readonly UploadHour[];
  readonly concurrency: number;
  readonly reload: boolean;
  /** Hours newer than this lag are left for later; undefined for archives on disk, which are complete. */
  readonly availabilityLagHours: number | undefined;
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
  /** Loaded, found empty, or taken over by another loader while this run was at it. */
  hoursDoneElsewhere: number;
  /** Not finished because the run stopped (refused credentials, interruption). */
  hoursInterrupted: number;
  /** The loaded and empty hours' counters, summed. */
  counters: HourCounters;
  seconds: number;
  failures: { hour: string; message: string }[];
  /** The error that stopped the run (refused credentials, an unreachable Export API), if one did. */
  stoppedBy: LoaderError | undefined;
}

/** Where a plan looks up what is done: the pool and the project's warehouse. */
export interface WarehouseContext {
  readonly pool: pg.Pool;
  readonly project: ProjectTarget;
}

/** What a pass will do with its hours, known before the first request. */
export interface HourPlan {
  /** The hours asked for. */
  readonly hours: number;
  /** Loaded or empty already: not requested again (unless --reload). */
  readonly alreadyDone: number;
  /** Too recent: Amplitude may still be adding to them. */
  readonly notYetAvailable: number;
  /** The rest, oldest first. */
  readonly toLoad: readonly UploadHour[];
}

/** Told of a pass's plan and of each hour as it finishes. */
export interface RangeObserver {
  onPlanned(plan: HourPlan): void;
  onOutcome(outcome: HourOutcome): void;
}

export function emptySummary(): RunSummary {
  return {
    hoursLoaded: 0,
    hoursEmpty: 0,
    hoursFailed: 0,
    hoursAlreadyDone: 0,
    hoursNotYetAvailable: 0,
    hoursDoneElsewhere: 0,
    hoursInterrupted: 0,
    counters: zeroCounters(),
    seconds: 0,
    failures: [],
    stoppedBy: undefined,
  };
}

/** Adds a pass's summary into a run's (follow mode runs pass after pass). */
export function addSummary(total: RunSummary, pass: RunSummary): void {
  total.hoursLoaded += pass.hoursLoaded;
  total.hoursEmpty += pass.hoursEmpty;
  total.hoursFailed += pass.hoursFailed;
  total.hoursAlreadyDone += pass.hoursAlreadyDone;
  total.hoursNotYetAvailable += pass.hoursNotYetAvailable;
  total.hoursDoneElsewhere += pass.hoursDoneElsewhere;
  total.hoursInterrupted += pass.hoursInterrupted;
  addCounters(total.counters, pass.counters);
  total.failures.push(...pass.failures);
  total.stoppedBy ??= pass.stoppedBy;
}

function addOutcome(summary: RunSummary, outcome: HourOutcome): void {
  if (outcome.status === 'failed') {
    summary.hoursFailed++;
    summary.failures.push({ hour: formatHour(outcome.hour), message: outcome.error.message });
  } else if (outcome.status === 'taken over') {
    summary.hoursDoneElsewhere++;
  } else {
    if (outcome.status === 'loaded') summary.hoursLoaded++;
    else summary.hoursEmpty++;
    addCounters(summary.counters, outcome.counters);
  }
}

/**
 * Which of the hours a pass loads: those available (past the lag) and, unless reloading, not yet
 * loaded or empty, found in one lookup whatever the range's length.
 */
export async function planHours(
  options: Pick<RangeOptions, 'hours' | 'reload' | 'availabilityLagHours' | 'now'>,
  context: WarehouseContext,
): Promise<HourPlan> {
  const lastAvailable = options.availabilityLagHours === undefined ? Infinity : lastAvailableHour(options.now, options.availabilityLagHours);
  const available = options.hours.filter((h) => h <= lastAvailable);
  let toLoad = available;
  if (!options.reload && available.length > 0) {
    const done = await finishedHours(
      context.pool,
      context.project,
      hourToDate(available[0] as UploadHour).toISOString(),
      hourToDate(available[available.length - 1] as UploadHour).toISOString(),
    );
    toLoad = available.filter((h) => !done.has(hourToDate(h).toISOString()));
  }
  return { hours: options.hours.length, alreadyDone: available.length - toLoad.length, notYetAvailable: options.hours.length - available.length, toLoad };
}

/** How long a run waits before asking again about an hour another loader holds. */
const HELD_HOUR_POLL_MS = 1000;

/**
 * Loads every hour of the range that is available and not yet done, up to `concurrency` at a time,
 * oldest first. Each hour is claimed first, so several loaders can share a range: an hour another
 * live loader holds is passed over, and asked about again once nothing unclaimed is left, until it
 * is finished there or free to take. Hours fail independently; refused credentials stop the run.
 */
export async function loadRange(
  options: RangeOptions,
  context: HourContext,
  claims: ClaimSession,
  signal: AbortSignal,
  observer: RangeObserver,
): Promise<RunSummary> {
  const started = Date.now();
  const summary = emptySummary();
  const plan = await planHours(options, context);
  summary.hoursNotYetAvailable = plan.notYetAvailable;
  summary.hoursAlreadyDone = plan.alreadyDone;
  const pending: UploadHour[] = [...plan.toLoad];
  observer.onPlanned(plan);
  // An error that ends the run stops the hours already in flight too: they would only meet it as well.
  const stop = new AbortController();
  const runSignal = AbortSignal.any([signal, stop.signal]);
  const held = new Set<UploadHour>();
  const queued = pending.length;
  // Until an hour gets an answer, the Export API may be out of reach (DNS, refused connections):
  // when the first hour to fail does so after all its retries, the others would only repeat it.
  let reachedExportApi = false;

  /** The next hour to try: unclaimed ones first, then, after a pause, one another loader held. */
  const nextHour = async (): Promise<UploadHour | undefined> => {
    const fresh = pending.shift();
    if (fresh !== undefined) return fresh;
    while (held.size > 0 && !runSignal.aborted) {
      const [hour] = held;
      held.delete(hour as UploadHour);
      await sleep(HELD_HOUR_POLL_MS, undefined, { signal: runSignal }).catch(() => {});
      return hour;
    }
    return undefined;
  };

  const claim = async (hour: UploadHour): Promise<ClaimResult | 'failed'> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await claims.tryClaim(hourToDate(hour).toISOString(), options.reload);
      } catch (error) {
        if (runSignal.aborted) throw new AbortedError();
        const loaderError = error as LoaderError;
        if (!loaderError.retryable || attempt > context.retries) {
          summary.hoursFailed++;
          summary.failures.push({ hour: formatHour(hour), message: loaderError.message });
          return 'failed';
        }
        context.onRetry(hour, attempt, 0, loaderError);
        await sleep(backoffDelay(attempt, context.retryDelayMs), undefined, { signal: runSignal });
      }
    }
  };

  const worker = async () => {
    for (let hour = await nextHour(); hour !== undefined && !runSignal.aborted; hour = await nextHour()) {
      try {
        const claimed = await claim(hour);
        if (claimed === 'held') {
          held.add(hour);
          continue;
        }
        if (claimed === 'finished') summary.hoursDoneElsewhere++;
        if (claimed !== 'claimed') continue;
        const outcome = await loadHour(hour, context, runSignal);
        if (outcome.status === 'failed') await claims.release(hourToDate(hour).toISOString()).catch(() => {});
        addOutcome(summary, outcome);
        observer.onOutcome(outcome);
        const unreachable = outcome.status === 'failed' && outcome.error instanceof DownloadError && outcome.error.unreachable;
        if (unreachable && !reachedExportApi) {
          summary.stoppedBy ??= new ExportUnreachableError(outcome.error);
          stop.abort();
        }
        reachedExportApi ||= !unreachable;
      } catch (error) {
        // loadHour throws only what ends the run: refused credentials stop the hours in flight too.
        const loaderError = error as LoaderError;
        if (loaderError.scope !== 'run') throw error;
        if (!(loaderError instanceof AbortedError)) summary.stoppedBy ??= loaderError;
        stop.abort();
        await claims.release(hourToDate(hour).toISOString()).catch(() => {});
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, Math.max(pending.length, 1)) }, worker));
  summary.hoursInterrupted = queued - summary.hoursLoaded - summary.hoursEmpty - summary.hoursFailed - summary.hoursDoneElsewhere;
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}
