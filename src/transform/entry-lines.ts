import { isUtf8 } from 'node:buffer';
import { LimitExceededError } from '../errors.js';
import { COPY_NULL, escapeCopyText, toStorableText } from './copy-text.js';
import { EVENTS_TABLE_COLUMNS } from './event-columns.js';
import { encodeEventLine } from './event-line.js';
import { decodeUtf8Lossy } from './utf8.js';

/** What one archive entry contributed, summed into the hour's bookkeeping. */
export interface EntryCounters {
  eventsRead: number;
  rejectedLines: number;
  sanitizedValues: number;
}

/**
 * The columns of the staging table each COPY row fills: the event's columns, then where it came from,
 * then, for a line that could not be loaded, why and what it said.
 */
export const STAGE_COPY_COLUMNS: readonly string[] = [...EVENTS_TABLE_COLUMNS, 'entry_name', 'line_number', 'reject_reason', 'raw_line'];

const NULL_EVENT_COLUMNS = new Array<string>(EVENTS_TABLE_COLUMNS.length).fill(COPY_NULL).join('\t');
const NEWLINE = 0x0a;
// Larger batches hold more lines' strings alive at once: 1 MB batches took the loader to 336 MB RSS
// with four hours in flight, 64 KB to about 155 MB, at the same CPU (BENCHMARKS.md).
const BATCH_CHARS = 64 * 1024;

function isBlank(line: string): boolean {
  return line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '');
}

/** Where the lines come from, for messages, and how long one may be. */
export interface EntrySource {
  readonly hourLabel: string;
  readonly entryName: string;
  readonly maxLineBytes: number;
}

/**
 * Reads an entry's decompressed bytes and yields COPY text for the staging table in batches of about
 * 64 KB. Lines are split on LF (no readline: a missing final newline and blank lines are normal);
 * every non-blank line becomes one row, either an event or a reject with its line number. A line
 * longer than `maxLineBytes` throws LimitExceededError before it is held whole.
 */
export async function* encodeEntryLines(
  chunks: AsyncIterable<Buffer>,
  { hourLabel, entryName, maxLineBytes }: EntrySource,
  counters: EntryCounters,
): AsyncGenerator<string> {
  const entrySuffix = `\t${escapeCopyText(toStorableText(entryName))}\t`;
  let lineNumber = 0;
  let batch = '';
  const checkLineLength = (bytes: number, line = lineNumber + 1) => {
    if (bytes > maxLineBytes) {
      throw new LimitExceededError({ hour: hourLabel, entry: entryName, line }, 'a line', '--max-line-bytes', maxLineBytes);
    }
  };

  const addLine = (text: string, replacedAt: readonly number[]) => {
    lineNumber++;
    // A byte order mark some tools write at the start of a file is not part of the first event.
    const bom = lineNumber === 1 && text.charCodeAt(0) === 0xfeff;
    const line = bom ? text.slice(1) : text;
    // Characters never outnumber bytes, so this only catches lines over the limit.
    if (line.length > maxLineBytes) checkLineLength(line.length, lineNumber);
    if (isBlank(line)) return;
    counters.eventsRead++;
    const encoded = encodeEventLine(line, bom ? replacedAt.map((at) => at - 1) : replacedAt);
    if (encoded.ok) {
      counters.sanitizedValues += encoded.sanitizedValues;
      batch += `${encoded.copyColumns}${entrySuffix}${lineNumber}\t${COPY_NULL}\t${COPY_NULL}\n`;
    } else {
      counters.rejectedLines++;
      batch += `${NULL_EVENT_COLUMNS}${entrySuffix}${lineNumber}\t${escapeCopyText(encoded.reason)}\t${escapeCopyText(toStorableText(line))}\n`;
    }
  };

  const addLines = (block: Buffer) => {
    if (isUtf8(block)) {
      for (const line of block.toString('utf8').split('\n')) addLine(line, []);
      return;
    }
    let start = 0;
    for (;;) {
      const end = block.indexOf(NEWLINE, start);
      const bytes = block.subarray(start, end < 0 ? block.length : end);
      if (isUtf8(bytes)) {
        addLine(bytes.toString('utf8'), []);
      } else {
        const decoded = decodeUtf8Lossy(bytes);
        addLine(decoded.text, decoded.replacedAt);
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
    if (batch.length >= BATCH_CHARS) {
      yield batch;
      batch = '';
    }
  }
  if (pending.length > 0) addLines(Buffer.concat(pending));
  if (batch.length > 0) yield batch;
}
