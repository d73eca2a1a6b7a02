import assert from 'node:assert/strict';
import type pg from 'pg';

/** Runs the checks on one snapshot: a loader may still be committing while they run. */
async function onOneSnapshot(pool: pg.Pool, check: (client: pg.ClientBase) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await check(client);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

/**
 * No hour is half-loaded: every hour with rows is recorded as loaded, with as many rows and dropped
 * copies as it read events (less its rejects), and dedup's state agrees with the rows.
 */
export async function assertNoHalfLoadedHours(pool: pg.Pool, schema: string): Promise<void> {
  await onOneSnapshot(pool, async (client) => {
    await assertHoursWhole(client, schema);
    await checkDedupState(client, schema);
  });
}

/**
 * Dedup's own state agrees with the rows: one row per uuid in events, and one key per uuid that has
 * any copy, at its representative (the kept row, or a copy the insert_id rule dropped).
 */
export async function assertDedupState(pool: pg.Pool, schema: string): Promise<void> {
  await onOneSnapshot(pool, (client) => checkDedupState(client, schema));
}

async function assertHoursWhole(pool: pg.ClientBase, schema: string): Promise<void> {
  const { rows } = await pool.query(
    `SELECT to_char(c.upload_hour, 'YYYYMMDD"T"HH24') AS hour, sum(c.n)::int AS copies, h.status,
            (h.events_read - h.rejected_lines)::int AS expected
       FROM (SELECT upload_hour, count(*) AS n FROM "${schema}".events GROUP BY 1
             UNION ALL SELECT upload_hour, count(*) FROM "${schema}".duplicates GROUP BY 1) c
       LEFT JOIN "${schema}".upload_hours h USING (upload_hour)
      GROUP BY c.upload_hour, h.status, h.events_read, h.rejected_lines`,
  );
  for (const row of rows) {
    assert.equal(row.status, 'loaded', `hour ${row.hour} has rows but is ${row.status ?? 'not recorded'}`);
    assert.equal(row.copies, row.expected, `hour ${row.hour} holds ${row.copies} of ${row.expected} events`);
  }
}

async function checkDedupState(pool: pg.ClientBase, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const { rows: twice } = await pool.query(`SELECT uuid FROM ${s}.events GROUP BY uuid HAVING count(*) > 1`);
  assert.deepEqual(twice, [], 'a uuid is kept twice');
  const group = (alias: string) => `hashtext(${s}.insert_group(${alias}.app, ${alias}.device_id, ${alias}.user_id, ${alias}.insert_id))`;
  const hour = (alias: string) => `floor(extract(epoch FROM ${alias}.event_time) / 3600)::integer`;
  const { rows: keys } = await pool.query(
    `SELECT u.uuid::text, k.event_hour AS key, k.group_hash, r.event_hour AS representative, r.group_hash AS representative_group, k.n
       FROM (SELECT uuid FROM ${s}.events UNION SELECT uuid FROM ${s}.duplicates) u
       LEFT JOIN (SELECT uuid, min(event_hour) AS event_hour, min(group_hash) AS group_hash, count(*)::int AS n FROM ${s}.event_keys GROUP BY uuid) k USING (uuid)
       LEFT JOIN LATERAL (SELECT ${hour('e')} AS event_hour, ${group('e')} AS group_hash FROM ${s}.events e WHERE e.uuid = u.uuid
                          UNION ALL SELECT ${hour('d')}, ${group('d')} FROM ${s}.duplicates d WHERE d.uuid = u.uuid AND d.rule = 'insert_id') r ON true
      WHERE k.n IS DISTINCT FROM 1 OR k.event_hour IS DISTINCT FROM r.event_hour OR k.group_hash IS DISTINCT FROM r.group_hash`,
  );
  assert.deepEqual(keys, [], 'every uuid has one key, at its representative');
  const { rows: orphans } = await pool.query(
    `SELECT count(*)::int AS n FROM ${s}.event_keys k
      WHERE NOT EXISTS (SELECT 1 FROM ${s}.events e WHERE e.uuid = k.uuid) AND NOT EXISTS (SELECT 1 FROM ${s}.duplicates d WHERE d.uuid = k.uuid)`,
  );
  assert.equal(orphans[0].n, 0, 'no key without a copy');
}
