import { printable } from './printable.js';
import { formatHour, hourToDate, hoursOf, lastAvailableHour, type HourRange } from '../hour.js';
import type { HourRecord } from '../state/hour-records.js';

export type GridStatus = 'loaded' | 'empty' | 'failed' | 'missing' | 'not_yet_available';

const SYMBOL: Record<GridStatus, string> = { loaded: '#', empty: '.', failed: 'X', missing: '-', not_yet_available: ' ' };
const COUNTED: GridStatus[] = ['loaded', 'empty', 'failed', 'missing'];

export interface StatusReport {
  first: string;
  last: string;
  hours: { hour: string; status: GridStatus }[];
  totals: Record<GridStatus, number>;
  failures: { hour: string; attempts: number; error: string | null }[];
}

/** Each hour of the range as loaded, empty, failed, missing (available but never loaded), or not yet available. */
export function statusReport(range: HourRange, records: ReadonlyMap<string, HourRecord>, now: Date, lagHours: number): StatusReport {
  const lastAvailable = lastAvailableHour(now, lagHours);
  const totals: Record<GridStatus, number> = { loaded: 0, empty: 0, failed: 0, missing: 0, not_yet_available: 0 };
  const failures: StatusReport['failures'] = [];
  const hours = hoursOf(range).map((hour) => {
    const record = records.get(hourToDate(hour).toISOString());
    const status: GridStatus = record?.status ?? (hour > lastAvailable ? 'not_yet_available' : 'missing');
    totals[status]++;
    if (record?.status === 'failed') failures.push({ hour: formatHour(hour), attempts: record.attempts, error: record.lastError });
    return { hour: formatHour(hour), status };
  });
  return { first: formatHour(range.first), last: formatHour(range.last), hours, totals, failures };
}

/** Days down, the 24 hours of each across, with per-day and overall totals. */
export function renderStatusGrid(report: StatusReport): string {
  const byDay = new Map<string, Map<number, GridStatus>>();
  for (const { hour, status } of report.hours) {
    const day = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)}`;
    if (!byDay.has(day)) byDay.set(day, new Map());
    byDay.get(day)!.set(Number(hour.slice(9, 11)), status);
  }
  const counts = (statuses: Iterable<GridStatus>) => {
    const c: Record<string, number> = { loaded: 0, empty: 0, failed: 0, missing: 0 };
    for (const s of statuses) if (s in c) c[s]!++;
    return COUNTED.map((k) => String(c[k]).padStart(k.length)).join('  ');
  };
  const lines = [
    `upload hours ${report.first}..${report.last} (UTC)   # loaded   . empty   X failed   - missing`,
    `            0         1         2`,
    `            012345678901234567890123   ${COUNTED.join('  ')}`,
  ];
  for (const [day, hours] of byDay) {
    let row = '';
    for (let h = 0; h < 24; h++) {
      const status = hours.get(h);
      row += status === undefined ? ' ' : SYMBOL[status];
    }
    lines.push(`${day}  ${row}   ${counts(hours.values())}`);
  }
  lines.push(`${'total'.padEnd(10)}  ${' '.repeat(24)}   ${counts(report.hours.map((h) => h.status))}`);
  if (report.totals.not_yet_available > 0) lines.push(`${report.totals.not_yet_available} hour(s) not yet available (less than two hours old)`);
  if (report.failures.length > 0) {
    lines.push('', 'failed hours:');
    for (const f of report.failures) lines.push(`  ${f.hour}  after ${f.attempts} attempt(s): ${f.error === null ? 'no error recorded' : printable(f.error)}`);
  }
  return lines.join('\n');
}
