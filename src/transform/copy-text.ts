/**
 * Postgres COPY text format: columns separated by tabs, rows by newlines, NULL as `\N`; backslash,
 * newline, carriage return and tab inside a value are backslash-escaped.
 */

export const COPY_NULL = '\\N';

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPABLE = /[\\\n\r\t]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeCopyText(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPABLE, (c) => ESCAPED[c] as string) : value;
}

// NUL, and UTF-16 surrogates without their partner: text Postgres cannot store.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces what a Postgres text value cannot hold by U+FFFD. */
export function toStorableText(value: string): string {
  return value.replace(UNSTORABLE, '\uFFFD');
}
