import { isUtf8 } from 'node:buffer';
import { LimitExceededError } from '../errors.js';
import type { LineCounters } from '../counters.js';
import { escapeCopyText, toStorableText } from './copy-text.js';
import { EVENTS_TABLE_COLUMNS } from './event-columns.js';
import { ROW_KEY_COLUMNS, encodeEventLine } from './event-line.js';
import { decodeUtf8Lossy, ReplacementCursor, type DecodedText } from './utf8.js';
import { utcHourOf, utcMonthOf, type MonthIndex } from './utc-calendar.js';

/** Where each row came from, written after the event's own columns. */
export const PROVENANCE_COLUMNS: readonly string[] = ['project', 'upload_hour', 'loaded_at', 'archive_entry', 'archive_line'];

/** The columns of each `events` COPY row: the event's own, then its provenance. */
export const EVENTS_COPY_COLUMNS: readonly string[] = [...EVENTS_TABLE_COLUMNS, ...PROVENANCE_COLUMNS];

/** The columns of each row of an hour's keys: what dedup and the rollups read, then where the row came from. */
export const KEYS_COPY_COLUMNS: readonly string[] = [...ROW_KEY_COLUMNS, 'event_hour', 'archive_entry', 'archive_line'];

/** The columns of each `rejects` COPY row. */
export const REJECTS_COPY_COLUMNS: readonly string[] = ['project', 'upload_hour', 'archive_entry', 'entry_name', 'line_number', 'reason', 'raw_line'];

/** About 64 KB of COPY text: rows for `events`, their dedup keys, rows for `rejects`, and the months the events fall in. */
export interface EncodedBatch {
  /**
   * In pieces: a long value may come as bytes, never copied into a string. Such bytes are a view of
   * memory of their own, shared with nothing else, so they can be handed to another thread as they are.
   */
  readonly events: readonly (string | Buffer)[];
  readonly keys: string;
  readonly rejects: string;
  /** UTC months of the batch's events: those with partitions of their own must exist before it is written. */
  readonly months: ReadonlySet<MonthIndex>;
}

const NEWLINE = 0x0a;
// Larger batches hold more lines' strings alive at once: 1 MB batches took the loader to 336 MB RSS
// with four hours in flight, 64 KB to about 155 MB, at the same CPU (BENCHMARKS.md).
const BATCH_CHARS = 64 * 1024;

function isBlank(line: string): boolean {
  return line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '');
}

/** Where the lines come from, for messages and provenance, and how long one may be. */
export interface EntrySource {
  readonly hourLabel: string;
  /** The Amplitude project the hour belongs to (a checked name: nothing in it needs escaping, but it is escaped). */
  readonly project: string;
  /** The upload hour as Postgres reads a timestamptz. */
  readonly uploadHour: string;
  /** When the hour's transaction began, as Postgres reads a timestamptz: every row's `loaded_at`. */
  readonly loadedAt: string;
  readonly entryName: string;
  /** The entry's position in the hour, from 1. */
  readonly entryNumber: number;
  readonly maxLineBytes: number;
}

// Line numbers are stored as integer; an entry cannot have more lines than that holds.
const MAX_LINE_NUMBER = 2 ** 31 - 1;

/**
 * Reads an entry's decompressed bytes and yields COPY text in batches of about 64 KB. Lines are split
 * on LF (no readline: a missing final newline and blank lines are normal); every non-blank line becomes
 * one row, of `events` with its provenance (and its dedup keys), or of `rejects` with its line number
 * and reason. A line longer than `maxLineBytes` throws LimitExceededError before it is held whole.
 */
export async function* encodeEntryLines(
  chunks: AsyncIterable<Buffer>,
  { hourLabel, project, uploadHour, loadedAt, entryName, entryNumber, maxLineBytes }: EntrySource,
  counters: LineCounters,
): AsyncGenerator<EncodedBatch> {
  const projectText = escapeCopyText(project);
  const provenance = `\t${projectText}\t${uploadHour}\t${loadedAt}\t${entryNumber}\t`;
  const keyProvenance = `\t${entryNumber}\t`;
  const rejectPrefix = `${projectText}\t${uploadHour}\t${entryNumber}\t${escapeCopyText(toStorableText(entryName))}\t`;
  let lineNumber = 0;
  // The batch's rows so far: pieces before, the string being added to last.
  let eventPieces: (string | Buffer)[] = [];
  let events = '';
  let eventChars = 0;
  let keys = '';
  let rejects = '';
  let months = new Set<MonthIndex>();
  const checkLineLength = (bytes: number, line = lineNumber + 1) => {
    if (bytes > maxLineBytes) {
      throw new LimitExceededError({ hour: hourLabel, entry: entryName, line }, 'a line', '--max-line-bytes', maxLineBytes);
    }
  };

  const addLine = (text: string, replaced?: DecodedText['replaced']) => {
    if (lineNumber === MAX_LINE_NUMBER) {
      throw new LimitExceededError({ hour: hourLabel, entry: entryName, line: lineNumber }, 'the number of lines', 'the line-number range', MAX_LINE_NUMBER);
    }
    lineNumber++;
    // A byte order mark some tools write at the start of a file is not part of an event; files joined
    // with cat carry one at the start of a later line.
    const bom = text.charCodeAt(0) === 0xfeff;
    const line = bom ? text.slice(1) : text;
    // Characters never outnumber bytes, so this only catches lines over the limit.
    if (line.length > maxLineBytes) checkLineLength(line.length, lineNumber);
    if (isBlank(line)) return;
    counters.eventsRead++;
    const encoded = encodeEventLine(line, replaced === undefined ? undefined : new ReplacementCursor(line, replaced, bom ? 1 : 0));
    if (encoded.ok) {
      counters.sanitizedValues += encoded.sanitizedValues;
      const columns = encoded.copyColumns;
      if (typeof columns === 'string') {
        events += `${columns}${provenance}${lineNumber}\n`;
        eventChars += columns.length;
      } else {
        for (const piece of columns) {
          if (typeof piece === 'string') {
            events += piece;
          } else {
            eventPieces.push(events, piece);
            events = '';
          }
          eventChars += piece.length;
        }
        events += `${provenance}${lineNumber}\n`;
      }
      keys += `${encoded.keyColumns}\t${utcHourOf(encoded.eventTime)}${keyProvenance}${lineNumber}\n`;
      months.add(utcMonthOf(encoded.eventTime));
    } else {
      counters.rejectedLines++;
      rejects += `${rejectPrefix}${lineNumber}\t${escapeCopyText(encoded.reason)}\t${escapeCopyText(toStorableText(line))}\n`;
    }
  };

  // Each line is decoded on its own: a string of its own is read faster than a slice of the block's
  // (every character read goes through the slice to its parent), and keeps no other line alive.
  const addLines = (block: Buffer) => {
    const valid = isUtf8(block);
    let start = 0;
    for (;;) {
      const end = block.indexOf(NEWLINE, start);
      const bytes = block.subarray(start, end < 0 ? block.length : end);
      if (valid || isUtf8(bytes)) {
        addLine(bytes.toString('utf8'));
      } else {
        const decoded = decodeUtf8Lossy(bytes);
        addLine(decoded.text, decoded.replaced);
      }
      if (end < 0) return;
      start = end + 1;
    }
  };

  // The tail of the last chunk that is not yet a complete line; a list so a long line is joined once.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of chunks) {
    const lastNewline = chunk.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      checkLineLength(pendingBytes);
      continue;
    }
    const firstNewline = chunk.indexOf(NEWLINE);
    checkLineLength(pendingBytes + firstNewline);
    const head = chunk.subarray(0, lastNewline);
    addLines(pending.length === 0 ? head : Buffer.concat([...pending, head]));
    pending = lastNewline + 1 < chunk.length ? [chunk.subarray(lastNewline + 1)] : [];
    pendingBytes = chunk.length - lastNewline - 1;
    if (eventChars + rejects.length >= BATCH_CHARS) {
      yield { events: [...eventPieces, events], keys, rejects, months };
      eventPieces = [];
      events = '';
      eventChars = 0;
      keys = '';
      rejects = '';
      months = new Set();
    }
  }
  if (pending.length > 0) addLines(Buffer.concat(pending));
  if (eventChars + rejects.length > 0) yield { events: [...eventPieces, events], keys, rejects, months };
}
