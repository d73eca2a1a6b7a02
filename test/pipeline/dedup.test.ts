import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertDedupState } from '../helpers/invariants.js';

const fixtures = useLoaderFixtures(async ({ api }) => {
  for (const [hour, events] of Object.entries(HOURS)) api.archive(hour, await hourArchive(hour, [ndjson(events)]));
});
/** An event uploaded in the given hour (`YYYY-MM-DD HH`), at `minute`. */
function uploaded(hour: string, minute: number, overrides: Record<string, unknown>): Record<string, unknown> {
  const at = `${hour}:${String(minute).padStart(2, '0')}:00.000000`;
  return makeEvent({ server_upload_time: at, server_received_time: at, event_time: at, client_event_time: at, ...overrides });
}

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Three hours whose events overlap by uuid and by insert_id, including a chain across the window. */
const HOURS: Record<string, Record<string, unknown>[]> = {
  '20240501T01': [
    uploaded('2024-05-01 01', 1, { uuid: id(1) }),
    uploaded('2024-05-01 01', 2, { uuid: id(2), $insert_id: 'order-7', device_id: 'dev-a' }),
    uploaded('2024-05-01 01', 3, { uuid: id(3), $insert_id: 'chain', device_id: 'dev-c', event_time: '2024-04-20 00:00:00' }),
    uploaded('2024-05-01 01', 4, { uuid: id(4), city: 'first copy' }),
    uploaded('2024-05-01 01', 5, { uuid: id(5), $insert_id: 'by-user', device_id: '', user_id: 'user-9' }),
    uploaded('2024-05-01 01', 6, { uuid: id(6), $insert_id: 'far', device_id: 'dev-f', event_time: '2024-04-01 00:00:00' }),
  ],
  '20240501T02': [
    uploaded('2024-05-01 02', 1, { uuid: id(1) }),
    uploaded('2024-05-01 02', 2, { uuid: id(12), $insert_id: 'order-7', device_id: 'dev-a', event_time: '2024-05-03 01:02:00' }),
    uploaded('2024-05-01 02', 3, { uuid: id(13), $insert_id: 'chain', device_id: 'dev-c', event_time: '2024-04-25 00:00:00' }),
    uploaded('2024-05-01 02', 4, { uuid: id(14), $insert_id: 'order-7', device_id: 'dev-other' }),
    uploaded('2024-05-01 02', 5, { uuid: id(15), $insert_id: 'by-user', device_id: null, user_id: 'user-9' }),
    uploaded('2024-05-01 02', 6, { uuid: id(16), $insert_id: 'far', device_id: 'dev-f', event_time: '2024-04-08 00:00:00.000001' }),
  ],
  '20240501T03': [
    uploaded('2024-05-01 03', 1, { uuid: id(23), $insert_id: 'chain', device_id: 'dev-c', event_time: '2024-04-30 00:00:00' }),
    uploaded('2024-05-01 03', 2, { uuid: id(4), city: 'second copy' }),
    uploaded('2024-05-01 03', 3, { uuid: id(24) }),
    uploaded('2024-05-01 03', 3, { uuid: id(24) }),
  ],
};
const RANGE = '20240501T01..20240501T03';


/** The uuids the three hours leave in the table, whatever the order they are loaded in. */
const EXPECTED_KEPT = [1, 2, 3, 4, 5, 6, 14, 16, 23, 24].map(id);


async function snapshot(schema: string): Promise<string[]> {
  const { rows } = await fixtures.db.pool.query(`SELECT (to_jsonb(e) - 'loaded_at')::text AS row FROM "${schema}".events e ORDER BY uuid`);
  return rows.map((r) => r.row);
}

async function keptIds(schema: string): Promise<string[]> {
  const { rows } = await fixtures.db.pool.query(`SELECT uuid::text FROM "${schema}".events ORDER BY uuid`);
  return rows.map((r) => r.uuid);
}

async function loadHours(schema: string, ranges: string[], extra: string[] = []) {
  for (const range of ranges) {
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', schema, '--range', range, ...extra]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  }
}

test('forwards: duplicates by uuid and by insert_id are dropped, the earlier upload stays', async () => {
  await loadHours('forward', ['20240501T01', '20240501T02', '20240501T03']);
  assert.deepEqual(await keptIds('forward'), EXPECTED_KEPT);
  const { rows } = await fixtures.db.pool.query(`SELECT city FROM forward.events WHERE uuid = $1`, [id(4)]);
  assert.equal(rows[0].city, 'first copy');
  const { rows: hours } = await fixtures.db.pool.query(
    `SELECT to_char(upload_hour, 'HH24') AS h, events_read::int, rows_inserted::int, duplicates_uuid::int, duplicates_insert_id::int
       FROM forward_loader.upload_hours ORDER BY upload_hour`,
  );
  assert.deepEqual(hours, [
    { h: '01', events_read: 6, rows_inserted: 6, duplicates_uuid: 0, duplicates_insert_id: 0 },
    { h: '02', events_read: 6, rows_inserted: 2, duplicates_uuid: 1, duplicates_insert_id: 3 },
    { h: '03', events_read: 4, rows_inserted: 2, duplicates_uuid: 2, duplicates_insert_id: 0 },
  ]);
});

test('backwards and all at once, the table ends exactly the same', async () => {
  await loadHours('backward', ['20240501T03', '20240501T02', '20240501T01']);
  const forward = await snapshot('forward');
  assert.equal(forward.length, EXPECTED_KEPT.length);
  assert.deepEqual(await snapshot('backward'), forward);
  // All three hours at once, several times: an hour probes the history while another merges, and
  // must still see what that one committed before it took the merge lock.
  for (let round = 0; round < 4; round++) {
    await loadHours(`parallel_${round}`, [RANGE], ['--concurrency', '3']);
    assert.deepEqual(await snapshot(`parallel_${round}`), forward, `round ${round}`);
  }
  const { rows } = await fixtures.db.pool.query(`SELECT sum(rows_superseded)::int AS superseded FROM backward_loader.upload_hours`);
  assert.ok(rows[0].superseded > 0, 'loading backwards replaced rows of later uploads');
});

test('a rerun changes nothing and requests nothing', async () => {
  const before = await snapshot('forward');
  const requests = fixtures.api.requests.length;
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'forward', '--range', RANGE]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /already loaded or empty: 3/);
  assert.equal(fixtures.api.requests.length, requests);
  assert.deepEqual(await snapshot('forward'), before);
});

test('--reload of every hour leaves the same table; unchanged archives keep their rows and contest nothing', async () => {
  const before = await snapshot('backward');
  const loadedAt = async () => (await fixtures.db.pool.query(`SELECT uuid, loaded_at::text FROM backward.events ORDER BY uuid`)).rows;
  const stamps = await loadedAt();
  const merges = async () => (await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM backward_loader.recent_merges WHERE cardinality(uuid_hashes) > 0`)).rows[0].n;
  const mergesBefore = await merges();
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'backward', '--range', RANGE, '--reload']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /hours loaded: +3/);
  assert.match(result.stdout, /earlier rows replaced: +0\n/);
  assert.deepEqual(await snapshot('backward'), before);
  assert.deepEqual(await loadedAt(), stamps, 'the earlier rows stayed, loaded_at and all');
  assert.equal(await merges(), mergesBefore, 'no key of an unchanged hour was noted for others to contest');
  // Every copy read is a row or a dropped copy, and each uuid has one key, at its representative.
  const { rows } = await fixtures.db.pool.query(
    `SELECT (SELECT count(*) FROM backward.events)::int + (SELECT count(*) FROM backward_loader.duplicates)::int AS copies,
            (SELECT count(*) FROM backward_loader.event_keys_1)::int AS keys`,
  );
  assert.deepEqual(rows[0], { copies: 16, keys: 13 });
  await assertDedupState(fixtures.db.pool, 'backward');
});

test('--reload replaces an hour\'s rows exactly, bringing back what they had displaced', async () => {
  await loadHours('reload', [RANGE]);
  // Hour 01 again, without id(2) and id(4), and with a new event: id(12) and the second copy of id(4) return.
  const changed = HOURS['20240501T01']!.filter((e) => e.uuid !== id(2) && e.uuid !== id(4));
  changed.push(uploaded('2024-05-01 01', 30, { uuid: id(31) }));
  fixtures.api.archive('20240501T01', await hourArchive('20240501T01', [ndjson(changed)]));
  try {
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'reload', '--range', '20240501T01', '--reload']);
    assert.equal(result.code, 0, result.stderr);
    const expected = [...EXPECTED_KEPT.filter((u) => u !== id(2)), id(12), id(31)].sort();
    assert.deepEqual(await keptIds('reload'), expected);
    const { rows } = await fixtures.db.pool.query(`SELECT city FROM reload.events WHERE uuid = $1`, [id(4)]);
    assert.equal(rows[0].city, 'second copy');
  } finally {
    fixtures.api.archive('20240501T01', await hourArchive('20240501T01', [ndjson(HOURS['20240501T01']!)]));
  }
});

test('--insert-id-window 0 turns the insert_id rule off; uuids still deduplicate', async () => {
  await loadHours('nowindow', [RANGE], ['--insert-id-window', '0']);
  assert.deepEqual(await keptIds('nowindow'), [1, 2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 23, 24].map(id));
});

test('the summary counts events, rows and each rule\'s duplicates', async () => {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'summary', '--range', RANGE, '--concurrency', '1']);
  assert.equal(result.code, 0, result.stderr);
  for (const line of [
    /hours loaded: +3\n/,
    /events read: +16\n/,
    /rows inserted: +10\n/,
    /duplicates dropped by uuid: +3\n/,
    /duplicates dropped by insert_id: +3\n/,
    /rejected lines: +0\n/,
    /bytes downloaded: +\d{3,} /,
  ]) {
    assert.match(result.stdout, line);
  }
  // Off a terminal stderr is JSON lines and nothing else (no stray warnings).
  const entries = result.stderr.trim().split('\n').map((line) => JSON.parse(line) as { event: string });
  assert.deepEqual(entries.map((e) => e.event), ['planned', 'hour', 'hour', 'hour', 'summary']);
});
