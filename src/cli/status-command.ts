import { AVAILABILITY_LAG_HOURS, databaseConfig, parseRangeFlag, readEnvironment, type LoaderFlags } from '../config.js';
import { hourToDate } from '../hour.js';
import { estimatedRows, hourRecords, hoursOverview } from '../state/hour-records.js';
import { withWarehouse } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';
import { renderStatusGrid, statusReport } from './status-grid.js';
import { overviewReport, renderOverview } from './status-overview.js';

/**
 * `status`: without a range, how far the warehouse reaches, how far behind it is, what failed, its
 * recent days and size; with one, which of its hours are loaded, empty, failed or missing.
 */
export async function runStatus(flags: LoaderFlags & { json?: boolean | undefined }): Promise<number> {
  const range = flags.range === undefined ? undefined : parseRangeFlag('--range', flags.range);
  const database = databaseConfig(flags, readEnvironment());
  return withWarehouse(database, (message) => process.stderr.write(`${message}\n`), 2, async (pool) => {
    if (range === undefined) {
      const report = overviewReport(await hoursOverview(pool, database.schema), await estimatedRows(pool, database.schema), new Date(), AVAILABILITY_LAG_HOURS);
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderOverview(report, database.schema)}\n`);
      return EXIT_OK;
    }
    const records = await hourRecords(pool, database.schema, hourToDate(range.first).toISOString(), hourToDate(range.last).toISOString());
    const report = statusReport(range, records, new Date(), AVAILABILITY_LAG_HOURS);
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderStatusGrid(report)}\n`);
    return EXIT_OK;
  });
}
