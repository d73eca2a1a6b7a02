import { COPY_NULL, escapeCopyText } from './copy-text.js';
import { toBigint, toBoolean, toDouble, toTimestamptz, toUuid } from './column-values.js';
import { COLUMN_INDEX_BY_KEY, EVENT_COLUMNS, columnIndex } from './event-columns.js';
import { JsonSyntaxError, NotAnObjectError, scanTopLevelObject, toStorableJson, type JsonField } from './json-scanner.js';

export type EncodedLine =
  | {
      readonly ok: true;
      /** The event's columns and `extra` in COPY text format, tab-separated, without a newline. */
      readonly copyColumns: string;
      /** Fields whose key or value had to be changed to be storable (NUL, surrogates, bad UTF-8). */
      readonly sanitizedValues: number;
    }
  | { readonly ok: false; readonly reason: string };

const COLUMN_COUNT = EVENT_COLUMNS.length;
const UUID_COLUMN = columnIndex('uuid');
const EVENT_TIME_COLUMN = columnIndex('event_time');
const TIME_FALLBACK_COLUMNS = [columnIndex('client_event_time'), columnIndex('server_upload_time')];
const COLUMN_TYPES = EVENT_COLUMNS.map((c) => c.type);

function rawJson(line: string, field: JsonField, start: number): string {
  const raw = line.slice(start, field.valueEnd);
  return field.needsRewrite ? toStorableJson(raw) : raw;
}

/** The field's value as its column's type, or undefined when it does not fit (null is NULL). */
function columnValue(line: string, field: JsonField, column: number): string | null | undefined {
  if (field.kind === 'null') return null;
  const text = field.text;
  switch (COLUMN_TYPES[column]) {
    case 'text':
      if (text !== undefined) return text;
      // A number or boolean in a text column keeps its exact source text.
      return field.kind === 'object' || field.kind === 'array' ? undefined : line.slice(field.valueStart, field.valueEnd);
    case 'jsonb':
      return rawJson(line, field, field.valueStart);
    case 'timestamptz':
      return text === undefined ? undefined : toTimestamptz(text);
    case 'bigint':
      if (field.kind === 'number') return toBigint(line.slice(field.valueStart, field.valueEnd));
      return text === undefined ? undefined : toBigint(text);
    case 'double precision':
      if (field.kind === 'number') return toDouble(line.slice(field.valueStart, field.valueEnd));
      return text === undefined ? undefined : toDouble(text);
    case 'boolean':
      if (field.kind === 'true') return 't';
      if (field.kind === 'false') return 'f';
      return text === undefined ? undefined : toBoolean(text);
    case 'uuid':
      return text === undefined ? undefined : toUuid(text);
    default:
      return undefined;
  }
}

function containsAny(positions: readonly number[], start: number, end: number): boolean {
  for (const p of positions) if (p >= start && p < end) return true;
  return false;
}

/**
 * Turns one export line into the COPY text of an `events` row. Pure and total: every line either
 * encodes or comes back with the reason it must go to `rejects`.
 *
 * @param replacedAt positions in `line` where invalid UTF-8 was replaced by U+FFFD while decoding
 */
export function encodeEventLine(line: string, replacedAt: readonly number[] = []): EncodedLine {
  let fields: JsonField[];
  try {
    fields = scanTopLevelObject(line);
  } catch (error) {
    if (error instanceof NotAnObjectError) return { ok: false, reason: 'not a JSON object' };
    if (error instanceof JsonSyntaxError) return { ok: false, reason: `invalid JSON: ${error.message}` };
    throw error;
  }

  const values: (string | null)[] = new Array<string | null>(COLUMN_COUNT).fill(null);
  const extra: string[] = [];
  let sanitizedValues = 0;
  let uuidSeen = false;

  for (const field of fields) {
    if (field.changed || (replacedAt.length > 0 && containsAny(replacedAt, field.keyStart, field.valueEnd))) {
      sanitizedValues++;
    }
    const column = COLUMN_INDEX_BY_KEY.get(field.key);
    const value = column === undefined ? undefined : columnValue(line, field, column);
    if (column !== undefined) {
      if (column === UUID_COLUMN) uuidSeen = field.kind !== 'null';
      values[column] = value ?? null;
      if (value !== undefined) continue;
    }
    // An unknown key, or a value its column cannot hold: kept under its own name.
    const key = line.slice(field.keyStart, field.keyEnd);
    extra.push(`${field.needsRewrite ? toStorableJson(key) : key}:${rawJson(line, field, field.valueStart)}`);
  }

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

  let copyColumns = '';
  for (let i = 0; i < COLUMN_COUNT; i++) {
    const value = values[i];
    copyColumns += (value === null || value === undefined ? COPY_NULL : escapeCopyText(value)) + '\t';
  }
  copyColumns += escapeCopyText(`{${extra.join(',')}}`);
  return { ok: true, copyColumns, sanitizedValues };
}
