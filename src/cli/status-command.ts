import { AVAILABILITY_LAG_HOURS, databaseConfig, parseRangeFlag, readEnvironment, type LoaderFlags } from '../config.js';
import { createPool } from '../db/pool.js';
import { UsageError } from '../errors.js';
import { hourToDate } from '../hour.js';
import { hourRecords } from '../state/hour-records.js';
import { openDatabaseTarget, prepareDatabase } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';
import { renderStatusGrid, statusReport } from './status-grid.js';

/** `status`: which hours of a range are loaded, empty, failed or missing. */
export async function runStatus(flags: LoaderFlags & { json?: boolean | undefined }): Promise<number> {
  if (flags.range === undefined) throw new UsageError('status needs --range START..END');
  const range = parseRangeFlag('--range', flags.range);
  const database = databaseConfig(flags, readEnvironment());
  const target = await openDatabaseTarget(database, (message) => process.stderr.write(`${message}\n`));
  const pool = createPool({ connectionString: target.connectionString, maxConnections: 2 });
  try {
    await prepareDatabase(pool, database.schema);
    const records = await hourRecords(pool, database.schema, hourToDate(range.first).toISOString(), hourToDate(range.last).toISOString());
    const report = statusReport(range, records, new Date(), AVAILABILITY_LAG_HOURS);
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderStatusGrid(report)}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
    await target.close();
  }
}
