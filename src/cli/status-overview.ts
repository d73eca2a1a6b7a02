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
  /** Hours neither loaded nor empty between the first and the last that are (failed ones included). */
  hours_not_loaded_inside: number;
  /** Those hours as ranges, oldest first (the first 20), each with the command that loads it. */
  gaps: { first: string; last: string; hours: number; command: string }[];
  gap_ranges: number;
  /** Nothing inside the span missing or failed, and nothing available after it. */
  up_to_date: boolean;
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
  const behind = overview.lastDone === null ? null : Math.max(0, lastAvailable - hourFromDate(new Date(overview.lastDone)));
  const projectFlag = project === 'default' ? '' : ` --project ${project}`;
  return {
    project,
    first_done_hour: label(overview.firstDone),
    last_done_hour: label(overview.lastDone),
    last_available_hour: formatHour(lastAvailable),
    hours_behind: behind,
    hours_not_loaded_inside: overview.gapHours,
    gaps: overview.gaps.map((g) => {
      const range = `${label(g.first)}..${label(g.last)}`;
      return { first: label(g.first) as string, last: label(g.last) as string, hours: g.hours, command: `npm run load -- --range ${range}${projectFlag}` };
    }),
    gap_ranges: overview.gapRanges,
    up_to_date: behind === 0 && overview.gapHours === 0 && overview.counts.failed === 0,
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
  ];
  if (report.hours_behind === null) lines.push('  nothing loaded yet');
  else if (report.up_to_date) lines.push(`  up to date: every hour from ${report.first_done_hour} to the last available one, ${report.last_available_hour}, is loaded`);
  if (report.gap_ranges > 0) {
    lines.push(`  not loaded between ${report.first_done_hour} and ${report.last_done_hour}: ${report.hours_not_loaded_inside} hour(s) in ${report.gap_ranges} range(s)`);
    for (const gap of report.gaps) lines.push(`    ${gap.first}..${gap.last}  ${String(gap.hours).padStart(6)} hour(s)   ${gap.command}`);
    if (report.gap_ranges > report.gaps.length) lines.push(`    and ${report.gap_ranges - report.gaps.length} more range(s): npm run load -- --since ${report.first_done_hour} loads them all`);
  }
  if (report.hours_behind !== null && report.hours_behind > 0) {
    lines.push(`  behind: ${report.hours_behind} available hour(s) after ${report.last_done_hour}, up to ${report.last_available_hour}: npm run load -- --since-last`);
  }
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
