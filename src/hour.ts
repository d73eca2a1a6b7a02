/**
 * An upload hour: the unit the Export API serves and the loader records. Held as whole hours since
 * the Unix epoch so that ranges are plain integer arithmetic; always UTC.
 */
export type UploadHour = number & { readonly __brand: 'UploadHour' };

const MS_PER_HOUR = 3_600_000;
const HOUR_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/;
const DAY_PATTERN = /^(\d{4})(\d{2})(\d{2})$/;

export interface HourRange {
  readonly first: UploadHour;
  readonly last: UploadHour;
}

export class HourSyntaxError extends Error {}

function hourFromParts(text: string, year: string, month: string, day: string, hour: string): UploadHour {
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour));
  const date = new Date(ms);
  // Date.UTC rolls 2024-02-30 over into March; a round trip catches every impossible date.
  if (
    date.getUTCFullYear() !== Number(year) ||
    date.getUTCMonth() !== Number(month) - 1 ||
    date.getUTCDate() !== Number(day) ||
    date.getUTCHours() !== Number(hour)
  ) {
    throw new HourSyntaxError(`"${text}" is not a real date and hour`);
  }
  return (ms / MS_PER_HOUR) as UploadHour;
}

/** Parses one end of a range: `YYYYMMDDTHH` is that hour; a bare day `YYYYMMDD` spans its 24 hours. */
function parseRangeEnd(text: string): HourRange {
  const hourMatch = HOUR_PATTERN.exec(text);
  if (hourMatch) {
    const [, year, month, day, hour] = hourMatch as unknown as [string, string, string, string, string];
    const only = hourFromParts(text, year, month, day, hour);
    return { first: only, last: only };
  }
  const dayMatch = DAY_PATTERN.exec(text);
  if (dayMatch) {
    const [, year, month, day] = dayMatch as unknown as [string, string, string, string];
    const first = hourFromParts(text, year, month, day, '00');
    return { first, last: (first + 23) as UploadHour };
  }
  throw new HourSyntaxError(`"${text}" is not an upload hour (YYYYMMDDTHH) or a day (YYYYMMDD)`);
}

/** Parses `START..END` or a single hour or day; both ends are included. */
export function parseHourRange(text: string): HourRange {
  const parts = text.split('..');
  if (parts.length > 2) throw new HourSyntaxError(`"${text}" has more than one ".."`);
  const start = parseRangeEnd((parts[0] ?? '').trim());
  const end = parts.length === 2 ? parseRangeEnd((parts[1] ?? '').trim()) : start;
  if (end.last < start.first) {
    throw new HourSyntaxError(`the range ends (${formatHour(end.last)}) before it starts (${formatHour(start.first)})`);
  }
  return { first: start.first, last: end.last };
}

export function hourCount(range: HourRange): number {
  return range.last - range.first + 1;
}

/** Every hour of the range, oldest first. */
export function hoursOf(range: HourRange): UploadHour[] {
  const hours: UploadHour[] = [];
  for (let hour = range.first; hour <= range.last; hour++) hours.push(hour as UploadHour);
  return hours;
}

/** The Export API's own form, `YYYYMMDDTHH`. */
export function formatHour(hour: UploadHour): string {
  const iso = new Date(hour * MS_PER_HOUR).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
}

export function hourToDate(hour: UploadHour): Date {
  return new Date(hour * MS_PER_HOUR);
}

export function hourFromDate(date: Date): UploadHour {
  return Math.floor(date.getTime() / MS_PER_HOUR) as UploadHour;
}

/**
 * The last hour the Export API can serve completely at `now`: data is exportable about two hours after
 * Amplitude received it, so an hour is requested only once it ended at least `lagHours` ago.
 */
export function lastAvailableHour(now: Date, lagHours: number): UploadHour {
  return (hourFromDate(now) - lagHours - 1) as UploadHour;
}
