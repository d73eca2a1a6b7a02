import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { AbortedError, ArchiveError, ClaimLostError, ExportHttpError, LoaderError, classifyDatabaseError } from '../errors.js';
import type { DecompressionLimits, SkippedEntry } from '../extract/archive-entries.js';
import type { HourSource, OpenedHour } from '../extract/hour-source.js';
import { formatHour, hourToDate, type UploadHour } from '../hour.js';
import { addCounters, zeroCounters, type HourCounters } from '../counters.js';
import { HourLoad } from '../load/hour-load.js';
import { summarizeNewRanges } from '../load/partitions.js';
import type { PartitionManager } from '../load/partitions.js';
import { StageClock, type StageSeconds } from '../load/stage-clock.js';
import { completeClaim } from '../state/hour-claims.js';
import { hourHasRows, recordHourDone, recordHourFailed } from '../state/hour-records.js';
import type { RegisteredProject } from '../state/projects.js';
import type { HourProgress, ProgressBoard } from './hour-progress.js';
import { foldAndVacuumPending } from './pending-upkeep.js';
import type { EntryTransform } from '../transform/transform-threads.js';

export interface HourContext {
  readonly pool: pg.Pool;
  readonly source: HourSource;
  readonly partitions: PartitionManager;
  readonly project: RegisteredProject;
  /** The loader's claim owner id: an hour commits only while this loader still holds its claim. */
  readonly claimOwnerId: number;
  readonly insertIdWindowDays: number;
  /** The sessions' lock_timeout, for messages: waits for locks fail after it. */
  readonly lockWaitSeconds: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly limits: DecompressionLimits & { readonly maxLineBytes: number };
  /** Where each entry's lines are encoded: on this thread or on the transform's threads. */
  readonly transform: EntryTransform;
  readonly onRetry: (hour: UploadHour, attempt: number, delayMs: number, error: LoaderError) => void;
  /** Told what failed after an hour committed (its fold, its BRIN summaries): the hour stands, but someone should know. */
  readonly notice: (message: string) => void;
  /** Where each hour in flight is, for the run log. */
  readonly progress?: ProgressBoard;
}

export type HourOutcome =
  | {
      readonly hour: UploadHour;
      readonly status: 'loaded' | 'empty';
      readonly counters: HourCounters;
      readonly attempts: number;
      readonly seconds: number;
      /** Of the successful attempt. */
      readonly stages: StageSeconds;
      /** Entries passed over, the first MAX_NAMED_SKIPS of them (counters.entriesSkipped counts all). */
      readonly skipped: readonly SkippedEntry[];
    }
  | { readonly hour: UploadHour; readonly status: 'failed'; readonly error: LoaderError; readonly attempts: number; readonly seconds: number }
  /** Another loader took the hour over; it finishes it. */
  | { readonly hour: UploadHour; readonly status: 'taken over'; readonly attempts: number; readonly seconds: number };

const MICROS_PER_DAY = 86_400_000_000;
const MAX_NAMED_SKIPS = 20;
const MAX_BACKOFF_MS = 5 * 60_000;

/** Exponential backoff with equal jitter: half the step is fixed, the other half random. */
export function backoffDelay(attempt: number, baseMs: number): number {
  const step = Math.min(baseMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
  return Math.round(step / 2 + Math.random() * (step / 2));
}

function toLoaderError(error: unknown, hourLabel: string): LoaderError {
  return error instanceof LoaderError ? error : classifyDatabaseError(error, { hour: hourLabel, doing: 'loading' });
}

/** The chunks, adding their bytes to the hour's progress as they pass. */
async function* counted(chunks: AsyncIterable<Buffer>, progress: HourProgress): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    progress.ndjsonBytes += chunk.length;
    yield chunk;
  }
}

/** What an attempt that succeeded did. */
interface AttemptResult {
  status: 'loaded' | 'empty';
  counters: HourCounters;
  stages: StageSeconds;
  skipped: SkippedEntry[];
}

/** One attempt: download, stream every entry into the hour's transaction, merge, record, commit. */
async function attemptHour(hour: UploadHour, attempts: number, startedAt: Date, context: HourContext, signal: AbortSignal): Promise<AttemptResult> {
  const clock = new StageClock();
  const progress = context.progress?.start(hour);
  const onBytes = progress === undefined ? undefined : (bytes: number, expected: number | undefined) => {
    progress.bytesDownloaded = bytes;
    progress.bytesExpected = expected;
  };
  try {
    const opened = await clock.time('download', () => context.source.open(hour, signal, onBytes));
    return await loadOpened(hour, attempts, startedAt, context, signal, clock, progress, opened);
  } finally {
    if (progress !== undefined) context.progress?.finish(hour);
  }
}

/** The rest of an attempt, once its hour is downloaded or opened: into the hour's transaction and committed. */
async function loadOpened(
  hour: UploadHour,
  attempts: number,
  startedAt: Date,
  context: HourContext,
  signal: AbortSignal,
  clock: StageClock,
  progress: HourProgress | undefined,
  opened: OpenedHour,
): Promise<AttemptResult> {
  const label = formatHour(hour);
  const hourIso = hourToDate(hour).toISOString();
  if (progress !== undefined) {
    progress.phase = 'loading';
    progress.downloadedAt = Date.now();
  }
  try {
    const load = await HourLoad.begin(context.pool, {
      project: context.project,
      hourLabel: label,
      hourTimestamp: hourIso,
      replacing: await hourHasRows(context.pool, context.project, hourIso),
      insertIdWindowMicros: context.insertIdWindowDays > 0 ? BigInt(Math.round(context.insertIdWindowDays * MICROS_PER_DAY)) : null,
      lockWaitSeconds: context.lockWaitSeconds,
      partitions: context.partitions,
      clock,
      signal,
    });
    try {
      const counters = zeroCounters();
      if (progress !== undefined) progress.counters = counters;
      const skipped: SkippedEntry[] = [];
      if (opened.kind === 'archive') {
        counters.bytesDownloaded = opened.bytes;
        for await (const item of opened.entries(context.limits)) {
          if ('skippedBecause' in item) {
            counters.entriesSkipped++;
            if (skipped.length < MAX_NAMED_SKIPS) skipped.push(item);
            continue;
          }
          const entry = progress === undefined ? item : { name: item.name, chunks: () => counted(item.chunks(), progress) };
          await clock.time('copy', () => load.copyEntry(entry, context.limits.maxLineBytes, counters, context.transform));
        }
        counters.archiveEntries = load.entries.length;
        // Recorded as loaded, such an hour would never be asked for again.
        if (counters.archiveEntries === 0 && counters.entriesSkipped > 0) {
          const names = skipped.map((s) => s.name).join(', ');
          throw new ArchiveError(label, undefined, `none of the archive's ${counters.entriesSkipped} entries is NDJSON (.json.gz, .gz, .json or .ndjson): ${names}`, {
            retryable: false,
          });
        }
      }
      if (progress !== undefined) progress.phase = 'settling';
      const { counts } = await load.deduplicate();
      addCounters(counters, counts);
      const status = opened.kind === 'empty' ? 'empty' : 'loaded';
      await clock.time('settle', async () => {
        if (!(await completeClaim(load, context.project, hourIso, context.claimOwnerId))) throw new ClaimLostError(label);
        await recordHourDone(load, context.project, { hour: hourIso, status, attempts, startedAt, counters, entryNames: load.entries });
      });
      await clock.time('commit', () => load.commit());
      // The rollups take this hour's changes now, unless another loader's fold is at it (it, or the next
      // one, will); the hour is committed whatever happens here, and the rollups read exact either way.
      await clock.time('rollups', () => foldAndVacuumPending(context.pool, context.project, (message) => context.notice(`${label}: ${message}`), 'hour'));
      // Like the fold, an afterthought that cannot undo the committed hour: vacuum does it later if this fails.
      await clock.time('brin', () =>
        summarizeNewRanges(context.pool, context.project.schema, load.monthsWritten).catch((error: Error) =>
          context.notice(`${label}: summarizing the BRIN ranges it filled failed (vacuum will): ${error.message}`),
        ),
      );
      return { status, counters, stages: clock.seconds, skipped };
    } catch (error) {
      await load.abort(error);
      throw error;
    }
  } finally {
    if (opened.kind === 'archive') await opened.close();
  }
}

/**
 * Loads one upload hour end to end, retrying what `retryable` says can pass (429 after its
 * Retry-After, 5xx, network, truncated or corrupt downloads, lost connections) with exponential
 * backoff. A failure is recorded in `upload_hours`; an error whose scope is the run (refused
 * credentials, an interruption) is thrown.
 */
export async function loadHour(hour: UploadHour, context: HourContext, signal: AbortSignal): Promise<HourOutcome> {
  const label = formatHour(hour);
  const startedAt = new Date();
  const seconds = () => (Date.now() - startedAt.getTime()) / 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      const { status, counters, stages, skipped } = await attemptHour(hour, attempt, startedAt, context, signal);
      return { hour, status, counters, stages, skipped, attempts: attempt, seconds: seconds() };
    } catch (thrown) {
      const error = signal.aborted ? new AbortedError() : toLoaderError(thrown, label);
      if (error.scope === 'run') throw error;
      if (error instanceof ClaimLostError) return { hour, status: 'taken over', attempts: attempt, seconds: seconds() };
      if (!error.retryable || attempt > context.retries) {
        try {
          await recordHourFailed(context.pool, context.project, { hour: hourToDate(hour).toISOString(), attempts: attempt, startedAt, error: error.message });
        } catch {
          // The database may be what failed; the outcome below still reports the hour as failed.
        }
        return { hour, status: 'failed', error, attempts: attempt, seconds: seconds() };
      }
      const delayMs = error instanceof ExportHttpError && error.retryAfterMs !== undefined ? error.retryAfterMs : backoffDelay(attempt, context.retryDelayMs);
      context.onRetry(hour, attempt, delayMs, error);
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw new AbortedError();
      }
    }
  }
}
