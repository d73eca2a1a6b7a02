import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../src/demo/seeded-random.js';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runCli, runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';

const fixtures = useLoaderFixtures();

async function load(hour: string, lines: Record<string, unknown>[]) {
  fixtures.api.archive(hour, await hourArchive(hour, [ndjson(lines)]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result;
}

const partitions = async () =>
  (
    await fixtures.db.pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'amplitude.events'::regclass ORDER BY 1`,
    )
  ).rows.map((r) => r.relname);

test('times at and past the calendar\'s ends, and in any year, load as rows in partitions the loader owns; the next load succeeds', async () => {
  const times: Record<string, [string, string]> = {
    // event_time as written → the partition it lands in, and its UTC time as PostgreSQL prints it
    '0001-01-01T00:30:00+01:00': ['events_before_2010', '0001-12-31 23:30:00.000000 BC'],
    '0001-01-01 00:00:00.000000': ['events_before_2010', '0001-01-01 00:00:00.000000 AD'],
    '1970-01-01 00:00:00.000000': ['events_before_2010', '1970-01-01 00:00:00.000000 AD'],
    '2009-12-31 23:59:59.999999': ['events_before_2010', '2009-12-31 23:59:59.999999 AD'],
    '2010-01-01T00:30:00+01:00': ['events_before_2010', '2009-12-31 23:30:00.000000 AD'],
    '2010-01-01 00:00:00.000000': ['events_p2010_01', '2010-01-01 00:00:00.000000 AD'],
    '2039-12-31T23:30:00-01:00': ['events_from_2040', '2040-01-01 00:30:00.000000 AD'],
    '2099-12-31 23:59:59.999999': ['events_from_2040', '2099-12-31 23:59:59.999999 AD'],
    '9999-12-31T23:30:00-01:00': ['events_from_2040', '10000-01-01 00:30:00.000000 AD'],
    '9999-12-31 23:59:59.999999': ['events_from_2040', '9999-12-31 23:59:59.999999 AD'],
  };
  const events = Object.keys(times).map((eventTime, i) =>
    makeEvent({ uuid: `77777777-0000-4000-8000-${String(i).padStart(12, '0')}`, event_time: eventTime, amplitude_id: 1000 + i }),
  );
  await load('20240301T05', events);
  const { rows } = await fixtures.db.pool.query<{ part: string; utc: string }>(
    `SELECT tableoid::regclass::text AS part, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US BC') AS utc
       FROM amplitude.events WHERE uuid::text LIKE '77777777-%' ORDER BY uuid`,
  );
  assert.deepEqual(
    rows.map((r) => [r.part, r.utc]),
    Object.values(times).map(([part, utc]) => [`amplitude.${part}`, utc]),
  );
  assert.deepEqual(await partitions(), ['events_before_2010', 'events_from_2040', 'events_p2010_01']);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');

  // The next load, and every command, still work on that warehouse.
  await load('20240301T06', [makeEvent({ uuid: '77777777-1111-4000-8000-000000000001' })]);
  const status = await runCli(['status'], { DATABASE_URL: fixtures.db.url });
  assert.equal(status.code, 0, status.stderr);
});

test('an hour whose times spread over many months makes partitions only for the era\'s months', async () => {
  const events = [];
  // One event in each month from 2035-01 to 2044-12, and one in each century before the era.
  for (let month = 0; month < 120; month++) {
    const year = 2035 + Math.floor(month / 12);
    events.push(makeEvent({ event_time: `${year}-${String((month % 12) + 1).padStart(2, '0')}-15 12:00:00.000000` }));
  }
  for (let year = 1; year < 2000; year += 100) events.push(makeEvent({ event_time: `${String(year).padStart(4, '0')}-06-15 12:00:00.000000` }));
  await load('20240301T07', events);
  const made = (await partitions()).filter((name) => /^events_p203[5-9]/.test(name));
  assert.equal(made.length, 60, 'the five years 2035–2039 of the era, a partition per month');
  assert.equal((await partitions()).filter((name) => /^events_p(20[4-9]|1|0)/.test(name)).length, 0, 'none outside it');
  const { rows } = await fixtures.db.pool.query(
    `SELECT count(*)::int AS n FROM amplitude.events WHERE upload_hour = '2024-03-01 07:00:00+00'`,
  );
  assert.equal(rows[0].n, events.length, 'every event is a row');

  // With that many partitions, many hours in flight would fill the server's lock table: said at start.
  const many = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240301T07', '--concurrency', '32']);
  assert.equal(many.code, 0, many.stderr);
  assert.match(many.stderr, /amplitude\.events has \d+ partitions: 32 hours in flight lock about \d+ of the server's \d+ lock slots .*raise max_locks_per_transaction, or lower --concurrency/);
  const few = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240301T07', '--concurrency', '1']);
  assert.doesNotMatch(few.stderr, /lock slots/);
});

test('text of any length in indexed columns and rollup keys loads, the row keeping it exactly', async () => {
  const random = new SeededRandom(7);
  // 1,000 CJK characters (3 KB of UTF-8) and 3 KB of characters no compression shrinks.
  const cjk = Array.from({ length: 1000 }, () => String.fromCodePoint(0x4e00 + random.int(20_000))).join('');
  const noisy = Array.from({ length: 3000 }, () => String.fromCodePoint(0x21 + random.int(0x5d))).join('');
  const huge = 'x'.repeat(1024 * 1024);
  const user = 555_000;
  const events = [
    makeEvent({ uuid: '66666666-0000-4000-8000-000000000001', event_type: cjk, platform: noisy, amplitude_id: user }),
    makeEvent({ uuid: '66666666-0000-4000-8000-000000000002', event_type: cjk, platform: noisy, amplitude_id: user }),
    makeEvent({ uuid: '66666666-0000-4000-8000-000000000003', event_type: `${cjk}!`, platform: huge, amplitude_id: user }),
    makeEvent({ uuid: '66666666-0000-4000-8000-000000000004', event_type: huge, device_id: huge, user_id: huge, $insert_id: huge, amplitude_id: user + 1 }),
  ];
  await load('20240302T05', events);
  const { rows } = await fixtures.db.pool.query<{ event_type: string; platform: string }>(
    `SELECT event_type, platform FROM amplitude.events WHERE uuid::text LIKE '66666666-%' ORDER BY uuid`,
  );
  assert.deepEqual(rows.map((r) => [r.event_type, r.platform]), events.map((e) => [e.event_type, e.platform]));
  const { rows: counts } = await fixtures.db.pool.query<{ event_type: string; events: string }>(
    `SELECT event_type, events::text FROM amplitude.event_counts WHERE day = '2024-03-01' AND length(event_type) > 100 ORDER BY length(event_type)`,
  );
  assert.deepEqual(counts.map((c) => [c.event_type, c.events]), [[cjk, '2'], [`${cjk}!`, '1'], [huge, '1']]);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
  // Reloaded, the same rows leave and come back through every key.
  fixtures.api.archive('20240302T05', await hourArchive('20240302T05', [ndjson(events.slice(1))]));
  const reload = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240302T05', '--reload']);
  assert.equal(reload.code, 0, reload.stderr);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
});

test('long values rewritten for jsonb (raw control characters, escapes, numbers jsonb cannot hold) load exactly, in typed columns and in extra', async () => {
  // 300 KB each: past the size where they are written into one buffer and sent as bytes.
  const controls = Array.from({ length: 150_000 }, (_, i) => `${String.fromCharCode(1 + (i % 31))}a`).join('').replaceAll('\n', ' ');
  const escaped = Array.from({ length: 40_000 }, (_, i) => ['\\u00e9', '\\"', '\\\\', '\\n', '\\ud83d\\ude00', 'x'][i % 6]).join('');
  const uuid = '55555555-0000-4000-8000-000000000001';
  const line =
    `{"uuid":"${uuid}","event_time":"2024-03-03 05:00:00","event_properties":{"text":"${controls}","n":1e999999},` +
    `"user_properties":{"s":"${escaped}"},"custom ${'\u0001'}key":"${controls}","other":{"s":"${escaped}"}}`;
  fixtures.api.archive('20240303T05', await hourArchive('20240303T05', [`${line}\n`]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240303T05']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const { rows } = await fixtures.db.pool.query(
    `SELECT event_properties->>'text' AS text, event_properties->>'n' AS n, user_properties->>'s' AS s, extra->>('custom ' || chr(1) || 'key') AS custom, extra->'other'->>'s' AS other
       FROM amplitude.events WHERE uuid = $1`,
    [uuid],
  );
  const decoded = JSON.parse(`"${escaped}"`) as string;
  assert.deepEqual(rows, [{ text: controls, n: '1e999999', s: decoded, custom: controls, other: decoded }]);
});

test('after each hour, the BRIN ranges its rows filled are summarized: an hour\'s rows and a time window are found without reading the partition', async () => {
  // Rows of about 1.6 KB (properties that do not compress), so each month fills more than one range
  // of 128 pages: the last, partial range of a table is left for the next rows to fill.
  const random = new SeededRandom(5);
  const events = Array.from({ length: 1600 }, (_, i) =>
    makeEvent({
      uuid: `88888888-0000-4000-8000-${String(i).padStart(12, '0')}`,
      // One event at the calendar's start (1 BC in UTC): its month has no text PostgreSQL reads as AD.
      event_time: i === 0 ? '0001-01-01T00:30:00+01:00' : i % 2 ? '2024-02-29 23:00:00' : '2024-03-01 05:10:00',
      event_properties: { noise: Array.from({ length: 150 }, () => random.int(1e9).toString(36)).join('') },
    }),
  );
  await load('20240303T09', events);
  assert.equal((await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude.events WHERE uuid::text LIKE '88888888-%'`)).rows[0].n, 1600);
  const { rows } = await fixtures.db.pool.query<{ index: string; left: number }>(
    `SELECT ic.relname AS index, brin_summarize_new_values(i.indexrelid) AS left
       FROM pg_inherits h JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am a ON a.oid = ic.relam
      WHERE h.inhparent = 'amplitude.events'::regclass AND a.amname = 'brin' AND ic.relname ~ '^events_p2024_0[23]_'
      ORDER BY 1`,
  );
  // Vacuum would find nothing left to summarize in either month's partition.
  assert.deepEqual(rows, [
    { index: 'events_p2024_02_event_time_idx', left: 0 },
    { index: 'events_p2024_02_upload_hour_idx', left: 0 },
    { index: 'events_p2024_03_event_time_idx', left: 0 },
    { index: 'events_p2024_03_upload_hour_idx', left: 0 },
  ]);
});
