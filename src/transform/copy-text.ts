/**
 * Postgres COPY text format: columns separated by tabs, rows by newlines, NULL as `\N`; backslash,
 * newline, carriage return and tab inside a value are backslash-escaped.
 */
import { newOutputText } from './text-builder.js';

export const COPY_NULL = '\\N';

const NEEDS_ESCAPE = /[\\\n\r\t]/;

export function escapeCopyText(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  const out = newOutputText(value.length + (value.length >> 3), true);
  out.range(value, 0, value.length);
  return out.text();
}

/** escapeCopyText, with a long ASCII result as bytes that are never copied into a string. */
export function escapeCopyValue(value: string): string | Buffer {
  if (!NEEDS_ESCAPE.test(value)) return value;
  const out = newOutputText(value.length + (value.length >> 3), true);
  out.range(value, 0, value.length);
  return out.asciiBytes() ?? out.text();
}

// NUL, and UTF-16 surrogates without their partner: text Postgres cannot store.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces what a Postgres text value cannot hold by U+FFFD. */
export function toStorableText(value: string): string {
  return value.replace(UNSTORABLE, '\uFFFD');
}
