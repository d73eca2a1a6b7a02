/**
 * Where a time falls, in UTC hours and months, for any year PostgreSQL's timestamptz holds: the one
 * home of the loader's calendar arithmetic (proleptic Gregorian, as PostgreSQL counts; 1 BC is year 0).
 * Dedup keys place a row by its hour, partitions by its month. JS Date is never involved: it keeps
 * milliseconds only and years up to 275760.
 */

/** A UTC month counted from January of year 0 (1 BC): `year * 12 + month - 1`. */
export type MonthIndex = number;

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (days-from-civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

/** The month of a day counted from 1970-01-01 (civil-from-days). */
function monthOfDays(days: number): MonthIndex {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shifted = Math.floor((5 * dayOfYear + 2) / 153);
  const month = shifted < 10 ? shifted + 3 : shifted - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return year * 12 + month - 1;
}

const ZONE = /[+-]\d{2}(?::?\d{2})?$/;

/**
 * Minutes since 1970-01-01 00:00 UTC (rounded down) of a time in `toTimestamptz`'s form,
 * `YYYY-MM-DD HH:MM:SS[.ffffff]` and a zone (`+00`, `-05`, `+05:30`, `+0530`).
 */
export function utcMinutesOf(timestamptz: string): number {
  let offsetMinutes = 0;
  if (!timestamptz.endsWith('+00')) {
    const zone = ZONE.exec(timestamptz.slice(19))?.[0] ?? '+00';
    const sign = zone.charCodeAt(0) === 45 ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.length > 3 ? zone.slice(-2) : 0));
  }
  const days = daysFromCivil(Number(timestamptz.slice(0, 4)), Number(timestamptz.slice(5, 7)), Number(timestamptz.slice(8, 10)));
  return days * 1440 + Number(timestamptz.slice(11, 13)) * 60 + Number(timestamptz.slice(14, 16)) - offsetMinutes;
}

/**
 * The hour since the epoch (UTC, rounded down) of a time in `toTimestamptz`'s form, as PostgreSQL's
 * `floor(extract(epoch FROM t) / 3600)` gives it: where dedup's keys place the row.
 */
export function utcHourOf(timestamptz: string): number {
  return Math.floor(utcMinutesOf(timestamptz) / 60);
}

/** The UTC month of a time in `toTimestamptz`'s form: an offset can move it into the month before or after. */
export function utcMonthOf(timestamptz: string): MonthIndex {
  return monthOfDays(Math.floor(utcMinutesOf(timestamptz) / 1440));
}

/** The UTC month of a time in epoch microseconds. */
export function monthOfMicros(micros: bigint): MonthIndex {
  return monthOfDays(Number((micros >= 0n ? micros : micros - 86_399_999_999n) / 86_400_000_000n));
}

/** The month `YYYY-MM` (a year of at least four digits; `-0001` before year 0), for messages and names. */
export function monthLabel(month: MonthIndex): string {
  const year = Math.floor(month / 12);
  const text = `${String(Math.abs(year)).padStart(4, '0')}-${String(month - year * 12 + 1).padStart(2, '0')}`;
  return year < 0 ? `-${text}` : text;
}

/** The first instant of a month of year 1 or later, as PostgreSQL reads a timestamptz. */
export function monthStart(month: MonthIndex): string {
  return `${monthLabel(month)}-01 00:00:00+00`;
}
