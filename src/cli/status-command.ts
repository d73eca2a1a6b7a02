import { printableJson } from './printable.js';
import { AVAILABILITY_LAG_HOURS, databaseConfig, parseRangeFlag, readEnvironment, type LoaderFlags } from '../config.js';
import { hourToDate } from '../hour.js';
import { estimatedRows, hourRecords, hoursOverview, recordedProjects } from '../state/hour-records.js';
import { withWarehouse } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';
import { renderStatusGrid, statusReport } from './status-grid.js';
import { projectOverview, renderOverview, type OverviewReport } from './status-overview.js';

/**
 * `status`: without a range, for each project how far it reaches, how far behind it is, what failed
 * and its recent days, and the warehouse's size; with one, which hours of the project (--project) are
 * loaded, empty, failed or missing.
 */
export async function runStatus(flags: LoaderFlags & { json?: boolean | undefined }): Promise<number> {
  const range = flags.range === undefined ? undefined : parseRangeFlag('--range', flags.range);
  const database = databaseConfig(flags, readEnvironment());
  return withWarehouse(database, (message) => process.stderr.write(`${message}\n`), 2, async (pool) => {
    if (range === undefined) {
      const now = new Date();
      const projects = [];
      for (const project of await recordedProjects(pool, database.schema)) {
        projects.push(projectOverview(project, await hoursOverview(pool, { schema: database.schema, project }), now, AVAILABILITY_LAG_HOURS));
      }
      const report: OverviewReport = { projects, estimated_rows: await estimatedRows(pool, database.schema) };
      process.stdout.write(flags.json ? `${printableJson(report)}\n` : `${renderOverview(report, database.schema)}\n`);
      return EXIT_OK;
    }
    const records = await hourRecords(pool, database, hourToDate(range.first).toISOString(), hourToDate(range.last).toISOString());
    const report = statusReport(range, records, new Date(), AVAILABILITY_LAG_HOURS);
    process.stdout.write(flags.json ? `${printableJson(report)}\n` : `${renderStatusGrid(report)}\n`);
    return EXIT_OK;
  }, 'read');
}
