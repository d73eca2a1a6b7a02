import { printable } from './printable.js';
import { formatHour, hourFromDate, lastAvailableHour } from '../hour.js';
import type { HoursOverview } from '../state/hour-records.js';

/** What `status` says of one project. */
export interface ProjectOverview {
  project: string;
  first_done_hour: string | null;
  last_done_hour: string | null;
  last_available_hour: string;
  /** Available hours after the last loaded or empty one; null when nothing is loaded. */
  hours_behind: number | null;
  hours: { loaded: number; empty: number; failed: number };
  failures: { hour: string; attempts: number; error: string | null }[];
  recent_days: { day: string; hours: number; events_read: number; rows_inserted: number }[];
}

export interface OverviewReport {
  /** Each project with recorded hours, by name. */
  projects: ProjectOverview[];
  /** The planner's estimates over all projects; null before a table's first ANALYZE. */
  estimated_rows: Record<'events' | 'duplicates' | 'rejects', number | null>;
}

/** What `status` says of a project without a range: how far it reaches, how far behind it is, what failed. */
export function projectOverview(project: string, overview: HoursOverview, now: Date, lagHours: number): ProjectOverview {
  const lastAvailable = lastAvailableHour(now, lagHours);
  const label = (iso: string | null) => (iso === null ? null : formatHour(hourFromDate(new Date(iso))));
  return {
    project,
    first_done_hour: label(overview.firstDone),
    last_done_hour: label(overview.lastDone),
    last_available_hour: formatHour(lastAvailable),
    hours_behind: overview.lastDone === null ? null : Math.max(0, lastAvailable - hourFromDate(new Date(overview.lastDone))),
    hours: overview.counts,
    failures: overview.failures.map((f) => ({ hour: label(f.hour) as string, attempts: f.attempts, error: f.lastError })),
    recent_days: overview.recentDays.map((d) => ({ day: d.day, hours: d.hours, events_read: d.eventsRead, rows_inserted: d.rowsInserted })),
  };
}

const about = (n: number | null) => (n === null ? 'not yet counted' : String(Math.round(n)));

function renderProject(report: ProjectOverview): string[] {
  const lines = [
    `project ${report.project}: upload hours ${report.first_done_hour ?? '-'} .. ${report.last_done_hour ?? '-'} (UTC): ` +
      `${report.hours.loaded} loaded, ${report.hours.empty} empty, ${report.hours.failed} failed`,
    report.hours_behind === null
      ? '  nothing loaded yet'
      : report.hours_behind === 0
        ? `  up to date: the last available hour is ${report.last_available_hour}`
        : `  ${report.hours_behind} hour(s) behind: the last available hour is ${report.last_available_hour}`,
  ];
  if (report.recent_days.length > 0) {
    lines.push('  recent upload days   hours  events read  rows inserted');
    for (const d of report.recent_days) {
      lines.push(`    ${d.day}      ${String(d.hours).padStart(5)}  ${String(d.events_read).padStart(11)}  ${String(d.rows_inserted).padStart(13)}`);
    }
  }
  if (report.failures.length > 0) {
    lines.push('  failed hours:');
    for (const f of report.failures) lines.push(`    ${f.hour}  after ${f.attempts} attempt(s): ${f.error === null ? 'no error recorded' : printable(f.error)}`);
  }
  return lines;
}

export function renderOverview(report: OverviewReport, schema: string): string {
  if (report.projects.length === 0) {
    return `nothing is loaded in schema ${schema} yet; load with npm run load -- --range START..END (or --since START)`;
  }
  const lines = [
    `schema ${schema}: ${report.projects.length} project(s); rows (estimates): events ${about(report.estimated_rows.events)}, ` +
      `duplicates ${about(report.estimated_rows.duplicates)}, rejects ${about(report.estimated_rows.rejects)}`,
  ];
  for (const project of report.projects) lines.push('', ...renderProject(project));
  lines.push('', 'npm run status -- --range START..END [--project NAME] shows the hours of a range one by one.');
  return lines.join('\n');
}
