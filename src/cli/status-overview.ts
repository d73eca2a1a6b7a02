import { formatHour, hourFromDate, lastAvailableHour } from '../hour.js';
import type { HoursOverview } from '../state/hour-records.js';

export interface OverviewReport {
  first_done_hour: string | null;
  last_done_hour: string | null;
  last_available_hour: string;
  /** Available hours after the last loaded or empty one; null when nothing is loaded. */
  hours_behind: number | null;
  hours: { loaded: number; empty: number; failed: number };
  failures: { hour: string; attempts: number; error: string | null }[];
  recent_days: { day: string; hours: number; events_read: number; rows_inserted: number }[];
  /** The planner's estimates; null before a table's first ANALYZE. */
  estimated_rows: Record<'events' | 'duplicates' | 'rejects', number | null>;
}

/** What `status` says without a range: how far the warehouse reaches, how far behind it is, what failed. */
export function overviewReport(
  overview: HoursOverview,
  rows: OverviewReport['estimated_rows'],
  now: Date,
  lagHours: number,
): OverviewReport {
  const lastAvailable = lastAvailableHour(now, lagHours);
  const label = (iso: string | null) => (iso === null ? null : formatHour(hourFromDate(new Date(iso))));
  return {
    first_done_hour: label(overview.firstDone),
    last_done_hour: label(overview.lastDone),
    last_available_hour: formatHour(lastAvailable),
    hours_behind: overview.lastDone === null ? null : Math.max(0, lastAvailable - hourFromDate(new Date(overview.lastDone))),
    hours: overview.counts,
    failures: overview.failures.map((f) => ({ hour: label(f.hour) as string, attempts: f.attempts, error: f.lastError })),
    recent_days: overview.recentDays.map((d) => ({ day: d.day, hours: d.hours, events_read: d.eventsRead, rows_inserted: d.rowsInserted })),
    estimated_rows: rows,
  };
}

const about = (n: number | null) => (n === null ? 'not yet counted' : String(Math.round(n)));

export function renderOverview(report: OverviewReport, schema: string): string {
  if (report.last_done_hour === null && report.hours.failed === 0) {
    return `nothing is loaded in schema ${schema} yet; load with npm run load -- --range START..END (or --since START)`;
  }
  const lines = [
    `schema ${schema}: upload hours ${report.first_done_hour ?? '-'} .. ${report.last_done_hour ?? '-'} (UTC): ` +
      `${report.hours.loaded} loaded, ${report.hours.empty} empty, ${report.hours.failed} failed`,
    report.hours_behind === null
      ? 'nothing loaded yet'
      : report.hours_behind === 0
        ? `up to date: the last available hour is ${report.last_available_hour}`
        : `${report.hours_behind} hour(s) behind: the last available hour is ${report.last_available_hour}`,
    `rows (estimates): events ${about(report.estimated_rows.events)}, duplicates ${about(report.estimated_rows.duplicates)}, ` +
      `rejects ${about(report.estimated_rows.rejects)}`,
  ];
  if (report.recent_days.length > 0) {
    lines.push('', 'recent upload days   hours  events read  rows inserted');
    for (const d of report.recent_days) {
      lines.push(`  ${d.day}        ${String(d.hours).padStart(5)}  ${String(d.events_read).padStart(11)}  ${String(d.rows_inserted).padStart(13)}`);
    }
  }
  if (report.failures.length > 0) {
    lines.push('', 'failed hours:');
    for (const f of report.failures) lines.push(`  ${f.hour}  after ${f.attempts} attempt(s): ${f.error ?? 'no error recorded'}`);
  }
  lines.push('', 'npm run status -- --range START..END shows the hours of a range one by one.');
  return lines.join('\n');
}
