import type { RunSummary } from '../pipeline/load-range.js';

// Plain digits, no separators: scripts read these numbers.
const count = (n: number) => String(n);

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The end-of-run summary. */
export function describeSummary(s: RunSummary): string {
  const skipped = s.hoursAlreadyDone + s.hoursDoneElsewhere + s.hoursNotYetAvailable + s.hoursInterrupted;
  const rate = s.seconds > 0 ? s.eventsRead / s.seconds : 0;
  const lines = [
    'Summary',
    `  hours loaded:                     ${count(s.hoursLoaded)}`,
    `  hours empty:                      ${count(s.hoursEmpty)}`,
    `  hours failed:                     ${count(s.hoursFailed)}`,
    `  hours skipped:                    ${count(skipped)} (already loaded or empty: ${count(s.hoursAlreadyDone)}, ` +
      `done by another loader: ${count(s.hoursDoneElsewhere)}, not yet available: ${count(s.hoursNotYetAvailable)}, ` +
      `interrupted: ${count(s.hoursInterrupted)})`,
    `  events read:                      ${count(s.eventsRead)}`,
    `  rows inserted:                    ${count(s.rowsInserted)}`,
    `  duplicates dropped by uuid:       ${count(s.duplicatesUuid)}`,
    `  duplicates dropped by insert_id:  ${count(s.duplicatesInsertId)}`,
    `  earlier rows replaced:            ${count(s.rowsSuperseded)}`,
    `  rejected lines:                   ${count(s.rejectedLines)}`,
    `  sanitized values:                 ${count(s.sanitizedValues)}`,
    `  bytes downloaded:                 ${count(s.bytesDownloaded)} (${megabytes(s.bytesDownloaded)})`,
    `  seconds:                          ${s.seconds.toFixed(1)}`,
    `  events/s:                         ${count(Math.round(rate))}`,
  ];
  for (const failure of s.failures) lines.push(`  failed ${failure.hour}: ${failure.message}`);
  if (s.authError) lines.push(`  stopped: ${s.authError.message}`);
  return lines.join('\n');
}
