/**
 * A validating scanner for one NDJSON line. Unlike JSON.parse it keeps each top-level value's exact
 * source text, so integers past 2^53, `1.0` and `1e-7` reach Postgres digit for digit, and it reports
 * what Postgres could not store (NUL, unpaired surrogates) instead of failing on it.
 */

/** What kind a top-level value is; numbers because they live in a typed array. */
export const KIND_STRING = 1;
export const KIND_NUMBER = 2;
export const KIND_OBJECT = 3;
export const KIND_ARRAY = 4;
export const KIND_TRUE = 5;
export const KIND_FALSE = 6;
export const KIND_NULL = 7;

/** Field flags. */
export const CHANGED = 1; // the key or value held NUL or an unpaired surrogate, now U+FFFD
export const NEEDS_REWRITE = 2; // the source text must pass through toStorableJson before Postgres reads it
export const KEY_ESCAPED = 4; // the key has escapes: decode it rather than slice it
export const VALUE_ESCAPED = 8; // likewise for a string value

/**
 * The top-level fields of the line scanned last, as parallel arrays reused from line to line: the hot
 * path allocates nothing per field. Positions index the line; keys and string values are decoded on
 * demand (decodeKey, decodeText).
 */
export class ScannedFields {
  count = 0;
  /** The line has no backslash and no control character: no value needs escaping anywhere. */
  clean = true;
  keyStart = new Int32Array(128);
  keyEnd = new Int32Array(128);
  valueStart = new Int32Array(128);
  valueEnd = new Int32Array(128);
  kind = new Uint8Array(128);
  flags = new Uint8Array(128);
  /** About how many characters rewriting the value for COPY adds (escapes of control characters, doubled backslashes). */
  growth = new Int32Array(128);

  push(keyStart: number, keyEnd: number, valueStart: number, valueEnd: number, kind: number, flags: number, growth: number): void {
    if (this.count === this.kind.length) this.grow();
    const k = this.count++;
    this.keyStart[k] = keyStart;
    this.keyEnd[k] = keyEnd;
    this.valueStart[k] = valueStart;
    this.valueEnd[k] = valueEnd;
    this.kind[k] = kind;
    this.flags[k] = flags;
    this.growth[k] = growth;
  }

  private grow(): void {
    const size = this.kind.length * 2;
    const widen = <T extends Int32Array | Uint8Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.keyStart = widen(this.keyStart, new Int32Array(size));
    this.keyEnd = widen(this.keyEnd, new Int32Array(size));
    this.valueStart = widen(this.valueStart, new Int32Array(size));
    this.valueEnd = widen(this.valueEnd, new Int32Array(size));
    this.kind = widen(this.kind, new Uint8Array(size));
    this.flags = widen(this.flags, new Uint8Array(size));
    this.growth = widen(this.growth, new Int32Array(size));
  }
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

import { newOutputText } from './text-builder.js';

const QUOTE = 34;
const BACKSLASH = 92;
const REPLACEMENT_CODE = 0xfffd;

// Flags of the string scanned last, read by the callers right after scanString returns.
let stringHasEscape = false;
let stringChanged = false;
let stringNeedsRewrite = false;
// Accumulated over a whole value, including nested strings and keys.
let valueChanged = false;
let valueNeedsRewrite = false;
let valueGrowth = 0;

function isWhitespace(code: number): boolean {
  return code === 32 || code === 10 || code === 13 || code === 9;
}

function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

// Each character's value as a hex digit, -1 for any other.
const HEX_DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) HEX_DIGIT_VALUE[d.toString(16).charCodeAt(0)] = HEX_DIGIT_VALUE[d.toString(16).toUpperCase().charCodeAt(0)] = d;

function hexDigit(code: number): number {
  return code < 128 ? (HEX_DIGIT_VALUE[code] as number) : -1;
}

/** The four hex digits at `at` as a number, or -1. */
function hexValue(s: string, at: number): number {
  if (at + 4 > s.length) return -1;
  const a = hexDigit(s.charCodeAt(at));
  const b = hexDigit(s.charCodeAt(at + 1));
  const c = hexDigit(s.charCodeAt(at + 2));
  const d = hexDigit(s.charCodeAt(at + 3));
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

// Per line: where the next backslash is (so strings without escapes are one indexOf each), and
// whether the line holds any raw control character at all (almost never; then strings are checked
// character by character).
let nextBackslash = -1;
const NOT_SEARCHED = -2;
let lineHasControl = false;
const CONTROL_CHARACTER = /[\u0000-\u001f]/;
// The letter of JSON's two-character escape for a control character (\b \t \n \f \r), 0 for the others,
// which take a six-character `\u00XX`: a raw tab costs 3 bytes in COPY, not 7.
const SHORT_ESCAPE_LETTER = new Uint8Array(32);
SHORT_ESCAPE_LETTER[8] = 98;
SHORT_ESCAPE_LETTER[9] = 116;
SHORT_ESCAPE_LETTER[10] = 110;
SHORT_ESCAPE_LETTER[12] = 102;
SHORT_ESCAPE_LETTER[13] = 114;

/** Flags raw control characters in s[from, to): invalid JSON, but accepted and re-escaped for Postgres. */
function checkControls(s: string, from: number, to: number): void {
  scanWork.characters += to - from;
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20) {
      stringNeedsRewrite = true;
      // What toCopyJson adds: a short escape's backslash and letter, or a `\u00XX`, the backslash doubled.
      valueGrowth += SHORT_ESCAPE_LETTER[c] === 0 ? 6 : 2;
      if (c === 0) stringChanged = true;
    }
  }
}

/**
 * Characters the scanner has looked at, summed over every line: each step adds what it covered, so a
 * step that looked at the same text twice shows here. Tests compare it across line sizes: a line's cost
 * must be linear in its length, whatever it holds.
 */
export const scanWork = { characters: 0 };

/** Scans the string whose opening quote is at `start`; returns the index after its closing quote. */
function scanString(s: string, start: number): number {
  stringHasEscape = false;
  stringChanged = false;
  stringNeedsRewrite = false;
  let i = start + 1;
  // The next quote is searched for again only once an escape has passed it (an escaped quote).
  let quote = -1;
  for (;;) {
    if (quote < i) {
      quote = s.indexOf('"', i);
      if (quote < 0) throw new JsonSyntaxError('unterminated string', start);
      scanWork.characters += quote - i + 1;
    }
    if (nextBackslash === NOT_SEARCHED || (nextBackslash >= 0 && nextBackslash < i)) {
      nextBackslash = s.indexOf('\\', i);
      scanWork.characters += (nextBackslash < 0 ? s.length : nextBackslash) - i + 1;
    }
    if (nextBackslash < 0 || nextBackslash > quote) {
      if (lineHasControl) checkControls(s, i, quote);
      return quote + 1;
    }
    const at = nextBackslash;
    if (lineHasControl) checkControls(s, i, at);
    stringHasEscape = true;
    valueGrowth += s.charCodeAt(at + 1) === BACKSLASH ? 2 : 1;
    const e = s.charCodeAt(at + 1);
    if (e === 117 /* u */) {
      const code = hexValue(s, at + 2);
      if (code < 0) throw new JsonSyntaxError('invalid \\u escape', at);
      i = at + 6;
      if (code === 0) {
        stringChanged = stringNeedsRewrite = true;
      } else if (isHighSurrogate(code)) {
        const low = s.charCodeAt(at + 6) === BACKSLASH && s.charCodeAt(at + 7) === 117 ? hexValue(s, at + 8) : -1;
        if (isLowSurrogate(low)) i = at + 12;
        else stringChanged = stringNeedsRewrite = true;
      } else if (isLowSurrogate(code)) {
        stringChanged = stringNeedsRewrite = true;
      }
    } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
      // " \ / b f n r t
      i = at + 2;
    } else {
      throw new JsonSyntaxError('invalid escape', at);
    }
    nextBackslash = backslashAfterEscape(s, i, quote);
  }
}

// How far past an escape the next backslash is looked for character by character: escapes packed
// together cost a call to indexOf each otherwise.
const ESCAPE_NEIGHBOURHOOD = 16;

/** The next backslash from `i`, or NOT_SEARCHED when none comes before `quote` (the string's end, if no escape passes it). */
function backslashAfterEscape(s: string, i: number, quote: number): number {
  const near = Math.min(quote, i + ESCAPE_NEIGHBOURHOOD);
  let k = i;
  while (k < near && s.charCodeAt(k) !== BACKSLASH) k++;
  scanWork.characters += k - i;
  if (k < near) return k;
  if (k === quote) return NOT_SEARCHED;
  const next = s.indexOf('\\', k);
  scanWork.characters += (next < 0 ? s.length : next) - k + 1;
  return next;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes the string token spanning [start, end) (quotes included), replacing what Postgres cannot hold. */
function decodeString(s: string, start: number, end: number, hasEscape: boolean, changed: boolean): string {
  if (!hasEscape && !changed) return s.slice(start + 1, end - 1);
  scanWork.characters += end - start;
  const out = newOutputText(end - start);
  let runStart = start + 1;
  const last = end - 1;
  let i = runStart;
  while (i < last) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) {
      out.range(s, runStart, i);
      const e = s[i + 1] as string;
      if (e === 'u') {
        const code = hexValue(s, i + 2);
        if (isHighSurrogate(code) && s.charCodeAt(i + 6) === BACKSLASH && s.charCodeAt(i + 7) === 117 && isLowSurrogate(hexValue(s, i + 8))) {
          out.code(code);
          out.code(hexValue(s, i + 8));
          i += 12;
        } else {
          out.code(code === 0 || isHighSurrogate(code) || isLowSurrogate(code) ? REPLACEMENT_CODE : code);
          i += 6;
        }
      } else {
        out.code((ESCAPES[e] as string).charCodeAt(0));
        i += 2;
      }
      runStart = i;
    } else if (c === 0 || (c >= 0xd800 && c <= 0xdfff)) {
      if (isHighSurrogate(c) && isLowSurrogate(s.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      out.range(s, runStart, i);
      out.code(REPLACEMENT_CODE);
      i++;
      runStart = i;
    } else {
      i++;
    }
  }
  out.range(s, runStart, last);
  return out.text();
}

// Postgres numeric holds at most 131072 digits before the decimal point and 16383 after it.
const NUMERIC_MAX_WEIGHT = 131072;
const NUMERIC_MAX_SCALE = 16383;

/**
 * Whether Postgres numeric (so jsonb) can hold the JSON number `text` as written: its most significant
 * digit at most 131072 places before the point, at most 16383 digits after it (trailing zeros count).
 */
export function fitsNumeric(text: string, start = 0, end = text.length): boolean {
  let i = start;
  if (text.charCodeAt(i) === 45 /* - */) i++;
  const integerStart = i;
  while (i < end && isDigit(text.charCodeAt(i))) i++;
  const integerEnd = i;
  if (integerEnd === integerStart) return false;
  let fractionStart = i;
  let fractionEnd = i;
  if (i < end && text.charCodeAt(i) === 46 /* . */) {
    fractionStart = ++i;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    fractionEnd = i;
    if (fractionEnd === fractionStart) return false;
  }
  let exponent = 0;
  if (i < end && (text.charCodeAt(i) === 101 || text.charCodeAt(i) === 69)) {
    i++;
    const negative = text.charCodeAt(i) === 45;
    if (negative || text.charCodeAt(i) === 43) i++;
    const digitsStart = i;
    while (i < end && text.charCodeAt(i) === 48) i++;
    const significantStart = i;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    if (i === digitsStart) return false;
    // Exponents of more than 7 digits are out of any range; clamping keeps the arithmetic exact.
    let magnitude = 0;
    if (i - significantStart > 7) magnitude = 1e8;
    else for (let k = significantStart; k < i; k++) magnitude = magnitude * 10 + text.charCodeAt(k) - 48;
    exponent = negative ? -magnitude : magnitude;
  }
  if (i !== end) return false;
  const fractionLength = fractionEnd - fractionStart;
  if (fractionLength - exponent > NUMERIC_MAX_SCALE) return false;
  let k = integerStart;
  while (k < integerEnd && text.charCodeAt(k) === 48) k++;
  const significantInteger = integerEnd - k;
  k = fractionStart;
  while (k < fractionEnd && text.charCodeAt(k) === 48) k++;
  const leadingFractionZeros = k - fractionStart;
  const isZero = significantInteger === 0 && leadingFractionZeros === fractionLength;
  const firstSignificant = significantInteger > 0 ? significantInteger : -leadingFractionZeros;
  return isZero || firstSignificant + exponent <= NUMERIC_MAX_WEIGHT;
}

// Whether the number scanned last had an exponent.
let numberHasExponent = false;

function scanNumber(s: string, start: number): number {
  const end = scanNumberToken(s, start);
  scanWork.characters += end - start;
  // Only an exponent or a very long number can be out of numeric's range: check those alone.
  if ((numberHasExponent || end - start > 64) && !fitsNumeric(s, start, end)) {
    valueChanged = valueNeedsRewrite = true;
    valueGrowth += 2;
  }
  return end;
}

function scanNumberToken(s: string, start: number): number {
  numberHasExponent = false;
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
    numberHasExponent = true;
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

// Indexed by a value's first character code; anything else that scanned is a number.
const KIND_BY_FIRST_CHAR = new Uint8Array(128).fill(KIND_NUMBER);
KIND_BY_FIRST_CHAR[34] = KIND_STRING;
KIND_BY_FIRST_CHAR[123] = KIND_OBJECT;
KIND_BY_FIRST_CHAR[91] = KIND_ARRAY;
KIND_BY_FIRST_CHAR[116] = KIND_TRUE;
KIND_BY_FIRST_CHAR[102] = KIND_FALSE;
KIND_BY_FIRST_CHAR[110] = KIND_NULL;
const BACKSLASH_OR_CONTROL = /[\u0000-\u001f\\]/;

/**
 * Splits a line holding one JSON object into its top-level fields, validating all of it, into
 * `fields` (reused: its previous contents are replaced). Throws NotAnObjectError or JsonSyntaxError.
 */
export function scanTopLevelObject(s: string, fields: ScannedFields): void {
  fields.count = 0;
  fields.clean = !BACKSLASH_OR_CONTROL.test(s);
  nextBackslash = fields.clean ? -1 : s.indexOf('\\');
  lineHasControl = !fields.clean && CONTROL_CHARACTER.test(s);
  let i = skipWhitespace(s, 0);
  if (s.charCodeAt(i) !== 123) throw new NotAnObjectError('the line is not a JSON object');
  i = skipWhitespace(s, i + 1);
  if (s.charCodeAt(i) !== 125) {
    for (;;) {
      if (s.charCodeAt(i) !== QUOTE) throw new JsonSyntaxError('expected a key', i);
      const keyStart = i;
      const keyEnd = scanString(s, i);
      let flags = (stringChanged ? CHANGED : 0) | (stringNeedsRewrite ? NEEDS_REWRITE : 0) | (stringHasEscape ? KEY_ESCAPED : 0);
      i = skipWhitespace(s, keyEnd);
      if (s.charCodeAt(i) !== 58) throw new JsonSyntaxError('expected ":"', i);
      const valueStart = skipWhitespace(s, i + 1);
      valueChanged = false;
      valueNeedsRewrite = false;
      valueGrowth = 0;
      const valueEnd = scanValue(s, valueStart, 1);
      const kind = KIND_BY_FIRST_CHAR[s.charCodeAt(valueStart)] as number;
      if (valueChanged) flags |= CHANGED;
      if (valueNeedsRewrite) flags |= NEEDS_REWRITE;
      if (kind === KIND_STRING && stringHasEscape) flags |= VALUE_ESCAPED;
      fields.push(keyStart, keyEnd, valueStart, valueEnd, kind, flags, valueGrowth);
      i = skipWhitespace(s, valueEnd);
      const next = s.charCodeAt(i);
      if (next === 125) break;
      if (next !== 44) throw new JsonSyntaxError('expected "," or "}"', i);
      i = skipWhitespace(s, i + 1);
    }
  }
  i = skipWhitespace(s, i + 1);
  if (i < s.length) throw new JsonSyntaxError('unexpected text after the object', i);
}

/** The k-th field's key, decoded, with NUL and unpaired surrogates replaced by U+FFFD. */
export function decodeKey(s: string, fields: ScannedFields, k: number): string {
  const start = fields.keyStart[k] as number;
  const end = fields.keyEnd[k] as number;
  const flags = fields.flags[k] as number;
  return decodeString(s, start, end, (flags & KEY_ESCAPED) !== 0, (flags & CHANGED) !== 0);
}

/** The k-th field's string value, decoded like decodeKey. */
export function decodeText(s: string, fields: ScannedFields, k: number): string {
  const start = fields.valueStart[k] as number;
  const end = fields.valueEnd[k] as number;
  const flags = fields.flags[k] as number;
  return decodeString(s, start, end, (flags & VALUE_ESCAPED) !== 0, (flags & CHANGED) !== 0);
}

/**
 * Rewrites JSON source text so that Postgres accepts it as jsonb with the same meaning: `\u0000`,
 * unpaired surrogates and NUL become U+FFFD, other raw control characters become escapes, and a number
 * numeric cannot hold becomes a string of its exact text. Every other number is copied as it is.
 */
export function toStorableJson(raw: string): string {
  return rewriteJson(raw, 0, raw.length, false, raw.length + 16) as string;
}

/**
 * toStorableJson's text of source[from, to) escaped for a COPY text field, in the same pass, as the
 * UTF-8 bytes COPY sends (a long result is never turned into a string). `growth` is what the scan
 * counted the rewriting adds.
 */
export function toCopyJson(source: string, from = 0, to = source.length, growth = (to - from) >> 3): string | Buffer {
  return rewriteJson(source, from, to, true, to - from + growth + 16);
}

// What the rewrite does with an ASCII character: a table lookup instead of a chain of tests, one per
// character, inside a string and outside one.
const KEEP = 0;
const STRING_QUOTE = 1;
const STRING_ESCAPE = 2;
const RAW_CONTROL = 3;
const NUMBER_START = 4;
const COPY_WHITESPACE = 5; // a tab or carriage return between tokens: COPY escapes it
const INSIDE_STRING = new Uint8Array(128);
const OUTSIDE_STRING = new Uint8Array(128);
INSIDE_STRING.fill(RAW_CONTROL, 0, 0x20);
INSIDE_STRING[QUOTE] = STRING_QUOTE;
INSIDE_STRING[BACKSLASH] = STRING_ESCAPE;
OUTSIDE_STRING[QUOTE] = STRING_QUOTE;
OUTSIDE_STRING.fill(NUMBER_START, 48, 58)[45] = NUMBER_START;
OUTSIDE_STRING[9] = OUTSIDE_STRING[13] = COPY_WHITESPACE;

// `\ufffd` as the bytes written, for jsonb ([0]) and for COPY, which doubles its backslash ([1]).
const REPLACEMENT_ESCAPE_BYTES = [Buffer.from('\\ufffd'), Buffer.from('\\\\ufffd')];
const HEX_DIGITS = Buffer.from('0123456789abcdef');
// The most one step of the loop writes: a surrogate pair's two escapes with their backslashes doubled.
const MOST_PER_STEP = 14;
// Short results are built here and copied out as strings; long ones get a buffer of their own.
const scratch = new Uint8Array(64 * 1024);

/** `buffer` with room for `needed` bytes, its first `used` kept. */
function withRoom(buffer: Uint8Array, used: number, needed: number): Uint8Array {
  if (needed <= buffer.length) return buffer;
  const grown = new Uint8Array(Math.max(Math.ceil(buffer.length * 1.5), needed));
  grown.set(buffer.subarray(0, used));
  return grown;
}

function putBytes(buffer: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let k = 0; k < bytes.length; k++) buffer[at + k] = bytes[k] as number;
  return at + bytes.length;
}

/**
 * The rewrite of raw[from, to) in one pass (read in place: a slice would be read through its parent
 * at every character), escaping for COPY as it goes (`forCopy`), written as UTF-8 into one byte buffer
 * sized from `capacity`: the same buffer type at every store, whatever the characters.
 */
function rewriteJson(raw: string, from: number, to: number, forCopy: boolean, capacity: number): string | Buffer {
  scanWork.characters += to - from;
  const copy = forCopy ? 1 : 0;
  const replacementEscape = REPLACEMENT_ESCAPE_BYTES[copy] as Buffer;
  let out: Uint8Array = capacity <= scratch.length ? scratch : new Uint8Array(capacity);
  let ascii = true;
  let n = 0;
  let inString = false;
  for (let i = from; i < to; i++) {
    if (n + MOST_PER_STEP > out.length) out = withRoom(out, n, n + MOST_PER_STEP);
    const c = raw.charCodeAt(i);
    if (c >= 0x80) {
      // Only inside a string (the scan refused any other place).
      ascii = false;
      if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        const low = raw.charCodeAt(i + 1);
        if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
          const point = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          out[n++] = 0xf0 | (point >> 18);
          out[n++] = 0x80 | ((point >> 12) & 0x3f);
          out[n++] = 0x80 | ((point >> 6) & 0x3f);
          out[n++] = 0x80 | (point & 0x3f);
          i++;
        } else {
          // An unpaired surrogate: U+FFFD.
          out[n++] = 0xef;
          out[n++] = 0xbf;
          out[n++] = 0xbd;
        }
      }
      continue;
    }
    const action = (inString ? INSIDE_STRING[c] : OUTSIDE_STRING[c]) as number;
    if (action === KEEP) {
      out[n++] = c;
      continue;
    }
    switch (action) {
      case STRING_QUOTE:
        inString = !inString;
        out[n++] = c;
        break;
      case RAW_CONTROL:
        if (c === 0) {
          n = putBytes(out, n, replacementEscape);
          break;
        }
        out[n++] = BACKSLASH;
        if (forCopy) out[n++] = BACKSLASH;
        if (SHORT_ESCAPE_LETTER[c] !== 0) {
          out[n++] = SHORT_ESCAPE_LETTER[c] as number;
          break;
        }
        // \u00XX
        out[n++] = 117;
        out[n++] = 48;
        out[n++] = 48;
        out[n++] = c < 0x10 ? 48 : 49;
        out[n++] = HEX_DIGITS[c & 15] as number;
        break;
      case COPY_WHITESPACE:
        if (forCopy) out[n++] = BACKSLASH;
        out[n++] = forCopy ? (c === 9 ? 116 : 114) : c;
        break;
      case NUMBER_START: {
        const end = scanNumberToken(raw, i);
        const quoted = (numberHasExponent || end - i > 64) && !fitsNumeric(raw, i, end);
        out = withRoom(out, n, n + end - i + 2 + MOST_PER_STEP);
        if (quoted) out[n++] = QUOTE;
        for (let k = i; k < end; k++) out[n++] = raw.charCodeAt(k);
        if (quoted) out[n++] = QUOTE;
        i = end - 1;
        break;
      }
      case STRING_ESCAPE: {
        out[n++] = BACKSLASH;
        if (forCopy) out[n++] = BACKSLASH;
        const e = raw.charCodeAt(i + 1);
        if (e !== 117 /* u */) {
          // One of " \ / b f n r t; a second backslash is doubled for COPY too.
          if (e === BACKSLASH && forCopy) out[n++] = BACKSLASH;
          out[n++] = e;
          i++;
          break;
        }
        const code = hexValue(raw, i + 2);
        const paired = isHighSurrogate(code) && raw.charCodeAt(i + 6) === BACKSLASH && raw.charCodeAt(i + 7) === 117 && isLowSurrogate(hexValue(raw, i + 8));
        if (!paired && (code === 0 || isHighSurrogate(code) || isLowSurrogate(code))) {
          n = putBytes(out, n - 1 - copy, replacementEscape);
          i += 5;
          break;
        }
        // The escape as written: `u` and four hex digits, then the low half's the same way.
        for (let k = i + 1; k < i + 6; k++) out[n++] = raw.charCodeAt(k);
        if (paired) {
          out[n++] = BACKSLASH;
          if (forCopy) out[n++] = BACKSLASH;
          for (let k = i + 7; k < i + 12; k++) out[n++] = raw.charCodeAt(k);
        }
        i += paired ? 11 : 5;
        break;
      }
    }
  }
  const bytes = Buffer.from(out.buffer, out.byteOffset, n);
  if (forCopy && out !== scratch) return bytes;
  return bytes.toString(ascii ? 'latin1' : 'utf8');
}
