import { COPY_NULL, escapeCopyText, escapeCopyValue } from './copy-text.js';
import { toBigint, toBoolean, toDouble, toTimestamptz, toUuid } from './column-values.js';
import { COLUMN_INDEX_BY_KEY, EVENT_COLUMNS, columnIndex } from './event-columns.js';
import type { ReplacementCursor } from './utf8.js';
import {
  CHANGED,
  JsonSyntaxError,
  KIND_ARRAY,
  KIND_FALSE,
  KIND_NULL,
  KIND_NUMBER,
  KIND_OBJECT,
  KIND_STRING,
  KIND_TRUE,
  NEEDS_REWRITE,
  NotAnObjectError,
  ScannedFields,
  decodeKey,
  decodeText,
  scanTopLevelObject,
  toCopyJson,
  toStorableJson,
} from './json-scanner.js';

export type EncodedLine =
  | {
      readonly ok: true;
      /**
       * The event's columns and `extra` in COPY text format, tab-separated, without a newline; in
       * pieces when a long value comes as bytes (never copied into a string).
       */
      readonly copyColumns: string | readonly (string | Buffer)[];
      /** The row's event_time as Postgres reads it (`toTimestamptz`'s form); it places the row in a partition. */
      readonly eventTime: string;
      /** The columns deduplication and the rollups read (`ROW_KEY_COLUMNS`) in COPY text format, tab-separated. */
      readonly keyColumns: string;
      /** Fields whose key or value had to be changed to be storable (NUL, surrogates, bad UTF-8). */
      readonly sanitizedValues: number;
    }
  | { readonly ok: false; readonly reason: string };

const COLUMN_COUNT = EVENT_COLUMNS.length;
const UUID_COLUMN = columnIndex('uuid');
const EVENT_TIME_COLUMN = columnIndex('event_time');
const TIME_FALLBACK_COLUMNS = [columnIndex('client_event_time'), columnIndex('server_upload_time')];
const COLUMN_TYPES = EVENT_COLUMNS.map((c) => c.type);
const NO_COLUMN = -1;

/**
 * What deduplication needs of a row (its uuid and times, and what its insert group is made of), then
 * what the rollups count it by.
 */
export const ROW_KEY_COLUMNS: readonly string[] = [
  'uuid', 'event_time', 'server_upload_time', 'app', 'device_id', 'user_id', 'insert_id', 'event_type', 'platform', 'amplitude_id', 'session_id', 'country',
];
const KEY_COLUMNS = ROW_KEY_COLUMNS.map(columnIndex);

// Reused for every line: the scan's output and the row being built.
const fields = new ScannedFields();
const values: (string | Buffer | null)[] = new Array<string | Buffer | null>(COLUMN_COUNT).fill(null);
const encoded: string[] = new Array<string>(COLUMN_COUNT).fill('');

// Export lines repeat the same keys in the same order, so the column of the k-th key is remembered
// with that key's source text; a line whose k-th key matches it skips slicing and hashing the key.
// Only the first keys are remembered: a line of millions of keys must not leave them all alive.
const REMEMBERED_KEYS = 256;
const keyTextAt: string[] = [];
const columnAt: number[] = [];

function columnOf(line: string, k: number): number {
  const start = fields.keyStart[k] as number;
  const end = fields.keyEnd[k] as number;
  if (k >= REMEMBERED_KEYS) return COLUMN_INDEX_BY_KEY.get(decodeKey(line, fields, k)) ?? NO_COLUMN;
  const known = keyTextAt[k];
  // A slice compared whole: about half the time of startsWith at an offset, measured on export lines.
  if (known !== undefined && known.length === end - start && line.slice(start, end) === known) return columnAt[k] as number;
  const column = COLUMN_INDEX_BY_KEY.get(decodeKey(line, fields, k)) ?? NO_COLUMN;
  keyTextAt[k] = line.slice(start, end);
  columnAt[k] = column;
  return column;
}

/** The k-th field's JSON as jsonb will read it, escaped for COPY already (rewritten and escaped in one pass). */
function copyJson(line: string, k: number): string | Buffer {
  const start = fields.valueStart[k] as number;
  const end = fields.valueEnd[k] as number;
  if (((fields.flags[k] as number) & NEEDS_REWRITE) !== 0) return toCopyJson(line, start, end, fields.growth[k] as number);
  const raw = line.slice(start, end);
  return fields.clean ? raw : escapeCopyValue(raw);
}

// Which columns of the row being built hold text escaped for COPY already (the jsonb ones).
const copyReady = new Uint8Array(COLUMN_COUNT);

/** The k-th field's value as its column's type, or undefined when it does not fit (null is NULL). */
function columnValue(line: string, k: number, column: number): string | Buffer | null | undefined {
  const kind = fields.kind[k] as number;
  if (kind === KIND_NULL) return null;
  switch (COLUMN_TYPES[column]) {
    case 'text':
      if (kind === KIND_STRING) return decodeText(line, fields, k);
      // A number or boolean in a text column keeps its exact source text.
      return kind === KIND_OBJECT || kind === KIND_ARRAY ? undefined : line.slice(fields.valueStart[k], fields.valueEnd[k]);
    case 'jsonb':
      copyReady[column] = 1;
      return copyJson(line, k);
    case 'timestamptz':
      return kind === KIND_STRING ? toTimestamptz(decodeText(line, fields, k)) : undefined;
    case 'bigint':
      if (kind === KIND_NUMBER) return toBigint(line.slice(fields.valueStart[k], fields.valueEnd[k]));
      return kind === KIND_STRING ? toBigint(decodeText(line, fields, k)) : undefined;
    case 'double precision':
      if (kind === KIND_NUMBER) return toDouble(line.slice(fields.valueStart[k], fields.valueEnd[k]));
      return kind === KIND_STRING ? toDouble(decodeText(line, fields, k)) : undefined;
    case 'boolean':
      if (kind === KIND_TRUE) return 't';
      if (kind === KIND_FALSE) return 'f';
      return kind === KIND_STRING ? toBoolean(decodeText(line, fields, k)) : undefined;
    case 'uuid':
      return kind === KIND_STRING ? toUuid(decodeText(line, fields, k)) : undefined;
    default:
      return undefined;
  }
}

function unchanged(value: string): string {
  return value;
}

/**
 * Turns one export line into the COPY text of an `events` row. Pure and total: every line either
 * encodes or comes back with the reason it must go to `rejects`. Its cost is linear in the line's
 * length, whatever the line holds.
 *
 * @param replacements where invalid UTF-8 was replaced by U+FFFD while decoding the line, if it was
 */
export function encodeEventLine(line: string, replacements?: ReplacementCursor): EncodedLine {
  try {
    scanTopLevelObject(line, fields);
  } catch (error) {
    if (error instanceof NotAnObjectError) return { ok: false, reason: 'not a JSON object' };
    if (error instanceof JsonSyntaxError) return { ok: false, reason: `invalid JSON: ${error.message}` };
    throw error;
  }

  values.fill(null);
  copyReady.fill(0);
  // `extra` is made of runs of the line itself: fields kept as written that follow one another are one
  // slice, whatever their number; a rewritten field is a piece of its own.
  // Its members and the commas between them, in order.
  const extraPieces: (string | Buffer)[] = [];
  const addExtra = (...parts: (string | Buffer)[]) => {
    if (extraPieces.length > 0) extraPieces.push(',');
    extraPieces.push(...parts);
  };
  let runStart = -1;
  let runEnd = -1;
  const endRun = () => {
    if (runStart >= 0) addExtra(fields.clean ? line.slice(runStart, runEnd) : escapeCopyValue(line.slice(runStart, runEnd)));
    runStart = -1;
  };
  let sanitizedValues = 0;
  let uuidSeen = false;

  for (let k = 0; k < fields.count; k++) {
    if (((fields.flags[k] as number) & CHANGED) !== 0 || replacements?.within(fields.keyStart[k] as number, fields.valueEnd[k] as number)) {
      sanitizedValues++;
    }
    const column = columnOf(line, k);
    const value = column === NO_COLUMN ? undefined : columnValue(line, k, column);
    if (column !== NO_COLUMN) {
      if (column === UUID_COLUMN) uuidSeen = fields.kind[k] !== KIND_NULL;
      values[column] = value ?? null;
      if (value !== undefined) continue;
    }
    // An unknown key, or a value its column cannot hold: kept under its own name.
    if (((fields.flags[k] as number) & NEEDS_REWRITE) !== 0) {
      endRun();
      addExtra(`${escapeCopyText(toStorableJson(line.slice(fields.keyStart[k], fields.keyEnd[k])))}:`, copyJson(line, k));
    } else if (runStart >= 0 && runEnd === (fields.valueEnd[k - 1] as number)) {
      runEnd = fields.valueEnd[k] as number;
    } else {
      endRun();
      runStart = fields.keyStart[k] as number;
      runEnd = fields.valueEnd[k] as number;
    }
  }
  endRun();

  if (values[UUID_COLUMN] === null) {
    return { ok: false, reason: uuidSeen ? 'uuid is not a valid UUID' : 'no uuid' };
  }
  if (values[EVENT_TIME_COLUMN] === null) {
    const fallback = TIME_FALLBACK_COLUMNS.map((c) => values[c]).find((v) => v !== null);
    if (fallback === undefined) {
      return { ok: false, reason: 'no usable time: event_time, client_event_time and server_upload_time are all missing or unreadable' };
    }
    values[EVENT_TIME_COLUMN] = fallback;
  }

  // A line without backslashes or control characters yields no value that COPY must escape.
  const escape = fields.clean ? unchanged : escapeCopyText;
  // The row as one string, or in pieces around values that came as bytes.
  const pieces: (string | Buffer)[] = [];
  let text = '';
  const append = (value: string | Buffer) => {
    if (typeof value === 'string') {
      text += value;
    } else {
      pieces.push(text, value);
      text = '';
    }
  };
  for (let i = 0; i < COLUMN_COUNT; i++) {
    const value = values[i];
    const ready = value === null || value === undefined ? COPY_NULL : copyReady[i] === 1 ? value : escape(value as string);
    encoded[i] = typeof ready === 'string' ? ready : '';
    append(ready);
    text += '\t';
  }
  // extra's pieces are escaped already; its braces and commas need nothing.
  text += '{';
  for (const piece of extraPieces) append(piece);
  text += '}';
  const copyColumns = pieces.length === 0 ? text : [...pieces, text];
  let keyColumns = encoded[KEY_COLUMNS[0] as number] as string;
  for (let k = 1; k < KEY_COLUMNS.length; k++) keyColumns += `\t${encoded[KEY_COLUMNS[k] as number]}`;
  return { ok: true, copyColumns, eventTime: values[EVENT_TIME_COLUMN] as string, keyColumns, sanitizedValues };
}
