/**
 * A validating scanner for one NDJSON line. Unlike JSON.parse it keeps each top-level value's exact
 * source text, so integers past 2^53, `1.0` and `1e-7` reach Postgres digit for digit, and it reports
 * what Postgres could not store (NUL, unpaired surrogates) instead of failing on it.
 */

export type JsonKind = 'string' | 'number' | 'object' | 'array' | 'true' | 'false' | 'null';

export interface JsonField {
  /** The decoded key, with NUL and unpaired surrogates already replaced by U+FFFD. */
  readonly key: string;
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly kind: JsonKind;
  readonly valueStart: number;
  readonly valueEnd: number;
  /** The decoded value when `kind` is 'string' (sanitized like `key`). */
  readonly text: string | undefined;
  /** The key or value held NUL or an unpaired surrogate, replaced by U+FFFD. */
  readonly changed: boolean;
  /** The source text must be rewritten before Postgres reads it as JSON (see `toStorableJson`). */
  readonly needsRewrite: boolean;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position + 1}`);
  }
}

export class NotAnObjectError extends Error {}

/** Deeper nesting than this overflows Postgres's own JSON parser, so such a line is refused here. */
export const MAX_NESTING_DEPTH = 1000;

const QUOTE = 34;
const BACKSLASH = 92;
const REPLACEMENT = '\uFFFD';

// Flags of the string scanned last, read by the callers right after scanString returns.
let stringHasEscape = false;
let stringChanged = false;
let stringNeedsRewrite = false;
// Accumulated over a whole value, including nested strings and keys.
let valueChanged = false;
let valueNeedsRewrite = false;

function isWhitespace(code: number): boolean {
  return code === 32 || code === 10 || code === 13 || code === 9;
}

function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

function hexValue(s: string, at: number): number {
  if (at + 4 > s.length) return -1;
  let value = 0;
  for (let k = at; k < at + 4; k++) {
    const c = s.charCodeAt(k);
    let digit: number;
    if (c >= 48 && c <= 57) digit = c - 48;
    else if (c >= 97 && c <= 102) digit = c - 87;
    else if (c >= 65 && c <= 70) digit = c - 55;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Scans the string whose opening quote is at `start`; returns the index after its closing quote. */
function scanString(s: string, start: number): number {
  stringHasEscape = false;
  stringChanged = false;
  stringNeedsRewrite = false;
  let i = start + 1;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      stringHasEscape = true;
      const e = s.charCodeAt(i + 1);
      if (e === 117 /* u */) {
        const code = hexValue(s, i + 2);
        if (code < 0) throw new JsonSyntaxError('invalid \\u escape', i);
        if (code === 0) {
          stringChanged = stringNeedsRewrite = true;
        } else if (isHighSurrogate(code)) {
          const low = s.charCodeAt(i + 6) === BACKSLASH && s.charCodeAt(i + 7) === 117 ? hexValue(s, i + 8) : -1;
          if (isLowSurrogate(low)) {
            i += 12;
            continue;
          }
          stringChanged = stringNeedsRewrite = true;
        } else if (isLowSurrogate(code)) {
          stringChanged = stringNeedsRewrite = true;
        }
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
        i += 2;
        continue;
      }
      throw new JsonSyntaxError('invalid escape', i);
    }
    if (c < 0x20) {
      // A raw control character is invalid JSON, but its meaning is plain: accept it, and escape it
      // for Postgres (NUL cannot be stored at all and becomes U+FFFD).
      stringNeedsRewrite = true;
      if (c === 0) stringChanged = true;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // Only a string handed in by JS (not decoded from UTF-8) can hold a lone surrogate.
      if (isHighSurrogate(c) && isLowSurrogate(s.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      stringChanged = stringNeedsRewrite = true;
    }
    i++;
  }
  throw new JsonSyntaxError('unterminated string', start);
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes the string token spanning [start, end) (quotes included), replacing what Postgres cannot hold. */
function decodeString(s: string, start: number, end: number, hasEscape: boolean, changed: boolean): string {
  if (!hasEscape && !changed) return s.slice(start + 1, end - 1);
  let out = '';
  let runStart = start + 1;
  const last = end - 1;
  let i = runStart;
  while (i < last) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) {
      out += s.slice(runStart, i);
      const e = s[i + 1] as string;
      if (e === 'u') {
        const code = hexValue(s, i + 2);
        if (isHighSurrogate(code) && s.charCodeAt(i + 6) === BACKSLASH && s.charCodeAt(i + 7) === 117 && isLowSurrogate(hexValue(s, i + 8))) {
          out += String.fromCharCode(code, hexValue(s, i + 8));
          i += 12;
        } else {
          out += code === 0 || isHighSurrogate(code) || isLowSurrogate(code) ? REPLACEMENT : String.fromCharCode(code);
          i += 6;
        }
      } else {
        out += ESCAPES[e];
        i += 2;
      }
      runStart = i;
    } else if (c === 0 || (c >= 0xd800 && c <= 0xdfff)) {
      if (isHighSurrogate(c) && isLowSurrogate(s.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      out += s.slice(runStart, i) + REPLACEMENT;
      i++;
      runStart = i;
    } else {
      i++;
    }
  }
  return out + s.slice(runStart, last);
}

function scanNumber(s: string, start: number): number {
  let i = start;
  if (s.charCodeAt(i) === 45 /* - */) i++;
  const firstDigit = s.charCodeAt(i);
  if (firstDigit === 48) {
    i++;
  } else if (firstDigit >= 49 && firstDigit <= 57) {
    while (isDigit(s.charCodeAt(i))) i++;
  } else {
    throw new JsonSyntaxError('invalid number', start);
  }
  if (s.charCodeAt(i) === 46 /* . */) {
    i++;
    if (!isDigit(s.charCodeAt(i))) throw new JsonSyntaxError('invalid number', start);
    while (isDigit(s.charCodeAt(i))) i++;
  }
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    i++;
    const sign = s.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(s.charCodeAt(i))) throw new JsonSyntaxError('invalid number', start);
    while (isDigit(s.charCodeAt(i))) i++;
  }
  return i;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function scanLiteral(s: string, start: number, literal: string): number {
  if (!s.startsWith(literal, start)) throw new JsonSyntaxError('invalid literal', start);
  return start + literal.length;
}

/** Scans any value at `start` (no leading whitespace); returns the index after it. */
function scanValue(s: string, start: number, depth: number): number {
  const c = s.charCodeAt(start);
  switch (c) {
    case QUOTE: {
      const end = scanString(s, start);
      if (stringChanged) valueChanged = true;
      if (stringNeedsRewrite) valueNeedsRewrite = true;
      return end;
    }
    case 123 /* { */:
      return scanContainer(s, start, depth + 1, true);
    case 91 /* [ */:
      return scanContainer(s, start, depth + 1, false);
    case 116:
      return scanLiteral(s, start, 'true');
    case 102:
      return scanLiteral(s, start, 'false');
    case 110:
      return scanLiteral(s, start, 'null');
    default:
      if (c === 45 || isDigit(c)) return scanNumber(s, start);
      throw new JsonSyntaxError(Number.isNaN(c) ? 'unexpected end of line' : 'unexpected character', start);
  }
}

function scanContainer(s: string, start: number, depth: number, isObject: boolean): number {
  if (depth > MAX_NESTING_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_NESTING_DEPTH} levels`, start);
  const close = isObject ? 125 : 93;
  let i = skipWhitespace(s, start + 1);
  if (s.charCodeAt(i) === close) return i + 1;
  for (;;) {
    if (isObject) {
      if (s.charCodeAt(i) !== QUOTE) throw new JsonSyntaxError('expected a key', i);
      i = scanString(s, i);
      if (stringChanged) valueChanged = true;
      if (stringNeedsRewrite) valueNeedsRewrite = true;
      i = skipWhitespace(s, i);
      if (s.charCodeAt(i) !== 58 /* : */) throw new JsonSyntaxError('expected ":"', i);
      i = skipWhitespace(s, i + 1);
    }
    i = skipWhitespace(s, scanValue(s, i, depth));
    const next = s.charCodeAt(i);
    if (next === close) return i + 1;
    if (next !== 44 /* , */) throw new JsonSyntaxError(`expected "," or "${isObject ? '}' : ']'}"`, i);
    i = skipWhitespace(s, i + 1);
  }
}

const KIND_BY_FIRST_CHAR: Record<number, JsonKind> = { 34: 'string', 123: 'object', 91: 'array', 116: 'true', 102: 'false', 110: 'null' };

/**
 * Splits a line holding one JSON object into its top-level fields, validating all of it.
 * Throws NotAnObjectError or JsonSyntaxError.
 */
export function scanTopLevelObject(s: string): JsonField[] {
  let i = skipWhitespace(s, 0);
  if (s.charCodeAt(i) !== 123) throw new NotAnObjectError('the line is not a JSON object');
  const fields: JsonField[] = [];
  i = skipWhitespace(s, i + 1);
  if (s.charCodeAt(i) !== 125) {
    for (;;) {
      if (s.charCodeAt(i) !== QUOTE) throw new JsonSyntaxError('expected a key', i);
      const keyStart = i;
      const keyEnd = scanString(s, i);
      const key = decodeString(s, keyStart, keyEnd, stringHasEscape, stringChanged);
      const keyChanged = stringChanged;
      const keyNeedsRewrite = stringNeedsRewrite;
      i = skipWhitespace(s, keyEnd);
      if (s.charCodeAt(i) !== 58) throw new JsonSyntaxError('expected ":"', i);
      const valueStart = skipWhitespace(s, i + 1);
      valueChanged = false;
      valueNeedsRewrite = false;
      const valueEnd = scanValue(s, valueStart, 1);
      const kind = KIND_BY_FIRST_CHAR[s.charCodeAt(valueStart)] ?? 'number';
      const text = kind === 'string' ? decodeString(s, valueStart, valueEnd, stringHasEscape, stringChanged) : undefined;
      fields.push({
        key,
        keyStart,
        keyEnd,
        kind,
        valueStart,
        valueEnd,
        text,
        changed: keyChanged || valueChanged,
        needsRewrite: keyNeedsRewrite || valueNeedsRewrite,
      });
      i = skipWhitespace(s, valueEnd);
      const next = s.charCodeAt(i);
      if (next === 125) break;
      if (next !== 44) throw new JsonSyntaxError('expected "," or "}"', i);
      i = skipWhitespace(s, i + 1);
    }
  }
  i = skipWhitespace(s, i + 1);
  if (i < s.length) throw new JsonSyntaxError('unexpected text after the object', i);
  return fields;
}

/**
 * Rewrites JSON source text so that Postgres accepts it as jsonb with the same meaning: `\u0000`,
 * unpaired surrogates and NUL become U+FFFD, other raw control characters become escapes. Everything
 * else, numbers above all, is copied as it is.
 */
export function toStorableJson(raw: string): string {
  let out = '';
  let runStart = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (!inString) {
      if (c === QUOTE) inString = true;
      continue;
    }
    if (c === QUOTE) {
      inString = false;
    } else if (c === BACKSLASH) {
      if (raw.charCodeAt(i + 1) !== 117) {
        i++;
        continue;
      }
      const code = hexValue(raw, i + 2);
      if (isHighSurrogate(code) && raw.charCodeAt(i + 6) === BACKSLASH && raw.charCodeAt(i + 7) === 117 && isLowSurrogate(hexValue(raw, i + 8))) {
        i += 11;
      } else if (code === 0 || isHighSurrogate(code) || isLowSurrogate(code)) {
        out += raw.slice(runStart, i) + '\\ufffd';
        i += 5;
        runStart = i + 1;
      } else {
        i += 5;
      }
    } else if (c < 0x20) {
      out += raw.slice(runStart, i) + (c === 0 ? '\\ufffd' : `\\u00${c.toString(16).padStart(2, '0')}`);
      runStart = i + 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (isHighSurrogate(c) && isLowSurrogate(raw.charCodeAt(i + 1))) {
        i++;
      } else {
        out += raw.slice(runStart, i) + REPLACEMENT;
        runStart = i + 1;
      }
    }
  }
  return out + raw.slice(runStart);
}
