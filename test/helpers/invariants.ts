import assert from 'node:assert/strict';
import type pg from 'pg';

/**
 * No hour is half-loaded: every hour with rows is recorded as loaded, with as many copies as it read
 * events (less its rejects), and no claim outlives its loader.
 */
export async function assertNoHalfLoadedHours(pool: pg.Pool, schema: string): Promise<void> {
  const { rows } = await pool.query(
    `SELECT to_char(c.upload_hour, 'YYYYMMDD"T"HH24') AS hour, count(*)::int AS copies, h.status,
            (h.events_read - h.rejected_lines)::int AS expected
       FROM "${schema}".event_copies c LEFT JOIN "${schema}".upload_hours h USING (upload_hour)
      GROUP BY c.upload_hour, h.status, h.events_read, h.rejected_lines`,
  );
  for (const row of rows) {
    assert.equal(row.status, 'loaded', `hour ${row.hour} has rows but is ${row.status ?? 'not recorded'}`);
    assert.equal(row.copies, row.expected, `hour ${row.hour} holds ${row.copies} of ${row.expected} events`);
  }
  const { rows: orphans } = await pool.query(
    `SELECT count(*)::int AS n FROM "${schema}".events e WHERE NOT EXISTS (SELECT 1 FROM "${schema}".event_copies c WHERE c.uuid = e.uuid AND c.status = 'kept')`,
  );
  assert.equal(orphans[0].n, 0, 'every row belongs to a loaded hour');
}
