import type { RunSummary } from '../pipeline/load-range.js';
import { printable } from './printable.js';

// Plain digits, no separators: scripts read these numbers.
const count = (n: number) => String(n);

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The end-of-run summary. */
export function describeSummary(s: RunSummary): string {
  const skipped = s.hoursAlreadyDone + s.hoursDoneElsewhere + s.hoursNotYetAvailable + s.hoursInterrupted;
  const c = s.counters;
  const rate = s.seconds > 0 ? c.eventsRead / s.seconds : 0;
  const lines = [
    'Summary',
    `  hours loaded:                     ${count(s.hoursLoaded)}`,
    `  hours empty:                      ${count(s.hoursEmpty)}`,
    `  hours failed:                     ${count(s.hoursFailed)}`,
    `  hours skipped:                    ${count(skipped)} (already loaded or empty: ${count(s.hoursAlreadyDone)}, ` +
      `done by another loader: ${count(s.hoursDoneElsewhere)}, not yet available: ${count(s.hoursNotYetAvailable)}, ` +
      `interrupted: ${count(s.hoursInterrupted)})`,
    `  events read:                      ${count(c.eventsRead)}`,
    `  rows inserted:                    ${count(c.rowsInserted)}`,
    `  duplicates dropped by uuid:       ${count(c.duplicatesUuid)}`,
    `  duplicates dropped by insert_id:  ${count(c.duplicatesInsertId)}`,
    `  earlier rows replaced:            ${count(c.rowsSuperseded)}`,
    `  earlier rows restored:            ${count(c.rowsRestored)}`,
    `  rejected lines:                   ${count(c.rejectedLines)}`,
    `  sanitized values:                 ${count(c.sanitizedValues)}`,
    `  archive entries skipped:          ${count(c.entriesSkipped)}`,
    `  bytes downloaded:                 ${count(c.bytesDownloaded)} (${megabytes(c.bytesDownloaded)})`,
    `  seconds:                          ${s.seconds.toFixed(1)}`,
    `  events/s:                         ${count(Math.round(rate))}`,
  ];
  for (const failure of s.failures) lines.push(`  failed ${failure.hour}: ${printable(failure.message)}`);
  if (s.stoppedBy) lines.push(`  stopped: ${printable(s.stoppedBy.message)}`);
  return lines.join('\n');
}
