/**
 * Conversions of one JSON value into the text form Postgres reads for a typed column. Each returns
 * `undefined` when the value does not fit its column exactly; the caller then keeps it in `extra`.
 * Nothing here rounds: a value is either carried exactly or refused.
 */

// `YYYY-MM-DD HH:MM[:SS[.fraction]]` with a space or `T`, then nothing (UTC), `Z`, or an offset.
const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const TRAILING_ZEROS = /^0*$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** The exact form nearly every export value has, `2024-03-01 05:12:09.583000`, checked without a regex. */
function isAmplitudeTimestamp(t: string): boolean {
  if (t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(10) !== 32) return false;
  if (t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58 || t.charCodeAt(19) !== 46) return false;
  const year = digits(t, 0, 4);
  const month = digits(t, 5, 2);
  const day = digits(t, 8, 2);
  const hour = digits(t, 11, 2);
  const minute = digits(t, 14, 2);
  const second = digits(t, 17, 2);
  return (
    year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
    hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && digits(t, 20, 6) >= 0
  );
}

/**
 * Reads Amplitude's `2024-03-01 05:12:09.583000` and ISO 8601 forms. Returns text that Postgres's
 * timestamptz input turns into the same instant to the microsecond, or undefined when the text is not
 * a real time or carries digits finer than a microsecond. JS Date is never involved: it keeps
 * milliseconds only.
 */
export function toTimestamptz(text: string): string | undefined {
  if (text.length === 26 && isAmplitudeTimestamp(text)) return `${text}+00`;
  const m = TIMESTAMP_PATTERN.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59)) return undefined;
  let fraction = m[7] ?? '';
  if (fraction.length > 6) {
    if (!TRAILING_ZEROS.test(fraction.slice(6))) return undefined;
    fraction = fraction.slice(0, 6);
  }
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && (Number(zone.slice(1, 3)) > 15 || Number(zone.slice(-2)) > 59)) return undefined;
  return (
    `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6] ?? '00'}` +
    (fraction ? `.${fraction}` : '') +
    (zone === undefined || zone === 'Z' ? '+00' : zone)
  );
}

const INTEGER_PATTERN = /^-?(?:0|[1-9]\d*)$/;
const INT64_MAX = '9223372036854775807';
const INT64_MIN_MAGNITUDE = '9223372036854775808';

/** An integer literal (from a JSON number or a string of digits) that fits bigint, digit for digit. */
export function toBigint(text: string): string | undefined {
  if (!INTEGER_PATTERN.test(text)) return undefined;
  const negative = text.charCodeAt(0) === 45;
  const digits = negative ? text.slice(1) : text;
  if (digits.length < 19) return text;
  if (digits.length > 19) return undefined;
  return digits <= (negative ? INT64_MIN_MAGNITUDE : INT64_MAX) ? text : undefined;
}

const NUMBER_PATTERN = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** The decimal value of a number's text as (significant digits, exponent), zero as ('0', 0). */
function decimalValue(text: string): string {
  let mantissa = text;
  let exponent = 0;
  const e = text.search(/[eE]/);
  if (e >= 0) {
    mantissa = text.slice(0, e);
    exponent = Number(text.slice(e + 1));
  }
  if (mantissa.charCodeAt(0) === 45) mantissa = mantissa.slice(1);
  const point = mantissa.indexOf('.');
  let digits = mantissa;
  if (point >= 0) {
    digits = mantissa.slice(0, point) + mantissa.slice(point + 1);
    exponent -= mantissa.length - point - 1;
  }
  const significant = digits.replace(/^0+/, '');
  if (significant === '') return '0';
  const trimmed = significant.replace(/0+$/, '');
  exponent += significant.length - trimmed.length;
  return `${text.charCodeAt(0) === 45 ? '-' : ''}${trimmed}e${exponent}`;
}

/**
 * A number that double precision holds exactly as written: its decimal value is the one the nearest
 * double prints as. `37.7749` fits; `0.12345678901234567890` and `1e400` do not.
 */
export function toDouble(text: string): string | undefined {
  const value = Number(text);
  // Written the way the double prints: exact. The usual case, and no regex needed.
  if (Number.isFinite(value) && String(value) === text) return text;
  if (!NUMBER_PATTERN.test(text)) return undefined;
  if (!Number.isFinite(value)) return undefined;
  return decimalValue(text) === decimalValue(String(value)) ? text : undefined;
}

/** true/false, or the strings "true"/"false" in any case. */
export function toBoolean(text: string): 't' | 'f' | undefined {
  if (text.length === 4 && text.toLowerCase() === 'true') return 't';
  if (text.length === 5 && text.toLowerCase() === 'false') return 'f';
  return undefined;
}

const UUID_PATTERN = /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$/;

export function toUuid(text: string): string | undefined {
  return UUID_PATTERN.test(text) ? text : undefined;
}
