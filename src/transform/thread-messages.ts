/** What the loader and a transform thread say to each other (transform-threads.ts, transform-thread.ts). */
import type { LineCounters } from '../counters.js';
import type { ErrorContext } from '../errors.js';
import type { EntrySource } from './entry-lines.js';
import type { MonthIndex } from './utc-calendar.js';

/** Chunks sent and not yet read by the thread; the entry's reading waits past this many. */
export const INPUT_WINDOW = 4;
/** Batches the thread made that the COPY has not taken; the thread waits past this many. */
export const OUTPUT_WINDOW = 2;

export type ToThread =
  | { readonly type: 'start'; readonly source: EntrySource }
  | { readonly type: 'chunk'; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  /** A batch was taken by the COPY. */
  | { readonly type: 'batchTaken' };

/** An error of the transform, as it crosses threads: a limit keeps its class (its hour, entry and line). */
export type ThreadFailure =
  | { readonly kind: 'limit'; readonly context: ErrorContext & { hour: string }; readonly what: string; readonly flag: string; readonly limit: number }
  | { readonly kind: 'other'; readonly message: string; readonly stack: string | undefined };

export type FromThread =
  /** A chunk was read. */
  | { readonly type: 'chunkRead' }
  | {
      readonly type: 'batch';
      /** The rows' COPY text as UTF-8, in pieces. */
      readonly events: readonly Uint8Array[];
      readonly keys: string;
      readonly rejects: string;
      readonly months: readonly MonthIndex[];
      /** What the batch's lines added to the counters. */
      readonly counted: LineCounters;
    }
  | { readonly type: 'done'; readonly counted: LineCounters }
  | { readonly type: 'failed'; readonly failure: ThreadFailure; readonly counted: LineCounters };
