import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';

const fixtures = useLoaderFixtures();

async function load(hour: string, lines: Record<string, unknown>[], extra: string[] = []) {
  fixtures.api.archive(hour, await hourArchive(hour, [ndjson(lines)]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour, ...extra]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

const ANNA = 1001;
const BEN = 1002;
const sessionAt = (time: string) => Date.parse(`2024-03-01T${time}Z`);
let n = 0;
function event(amplitudeId: number, session: string | null, time: string, eventType: string, more: Record<string, unknown> = {}) {
  n += 1;
  return makeEvent({
    uuid: `5e55a000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    $insert_id: `insert-${n}`,
    amplitude_id: amplitudeId,
    device_id: `device-${amplitudeId}`,
    user_id: null,
    session_id: session === null ? -1 : sessionAt(session),
    event_time: `2024-03-01 ${time}.000000`,
    event_type: eventType,
    platform: 'Web',
    country: 'Germany',
    ...more,
  });
}

async function sessionsOf(amplitudeId: number) {
  const { rows } = await fixtures.db.pool.query(
    `SELECT session_number::int AS number, to_char(session_start AT TIME ZONE 'UTC', 'HH24:MI') || '-' || to_char(session_end AT TIME ZONE 'UTC', 'HH24:MI') AS span,
            event_count::int AS events, first_event_type || '..' || last_event_type AS types, platform, country, user_id
       FROM amplitude.sessions WHERE project = 'default' AND amplitude_id = $1 ORDER BY session_number`,
    [amplitudeId],
  );
  return rows.map((r) => Object.values(r).join(' '));
}

test('sessions across upload hours, late events before a session and before a user\'s first, a reload that takes a last event away', async () => {
  const hour10 = [
    event(ANNA, '09:50:00', '09:50:00', 'session_start'),
    event(ANNA, '09:50:00', '09:55:00', 'page_view'),
    event(ANNA, '09:50:00', '10:05:00', 'search'),
    event(ANNA, null, '10:06:00', 'push_received'),
    event(BEN, '10:00:00', '10:00:00', 'session_start', { platform: 'iOS', country: 'France' }),
    event(BEN, '10:00:00', '10:01:00', 'page_view', { platform: 'iOS', country: 'France' }),
  ];
  await load('20240301T10', hour10);
  // Anna's session goes on into the next upload hour (she logs in), and she starts another.
  const purchase = event(ANNA, '09:50:00', '10:20:00', 'purchase', { user_id: 'anna' });
  const hour11 = [purchase, event(ANNA, '11:10:00', '11:10:00', 'session_start', { user_id: 'anna' }), event(ANNA, null, '11:12:00', 'push_received')];
  await load('20240301T11', hour11);
  assert.deepEqual(await sessionsOf(ANNA), [
    '1 09:50-10:20 4 session_start..purchase Web Germany anna',
    '2 11:10-11:10 1 session_start..session_start Web Germany anna',
  ]);

  // Late: an event of the first session from before its start (another platform), and a session of
  // the morning that comes before both.
  await load('20240301T12', [
    event(ANNA, '09:50:00', '09:40:00', 'app_open', { platform: 'iOS' }),
    event(ANNA, '08:00:00', '08:00:00', 'session_start'),
    event(ANNA, '08:00:00', '08:30:00', 'page_view'),
  ]);
  assert.deepEqual(await sessionsOf(ANNA), [
    '1 08:00-08:30 2 session_start..page_view Web Germany ',
    '2 09:40-10:20 5 app_open..purchase iOS Germany anna',
    '3 11:10-11:10 1 session_start..session_start Web Germany anna',
  ]);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');

  // Hour 11 exported again without the purchase: the session's last event is the search again.
  await load('20240301T11', hour11.slice(1), ['--reload']);
  assert.deepEqual(await sessionsOf(ANNA), [
    '1 08:00-08:30 2 session_start..page_view Web Germany ',
    '2 09:40-10:05 4 app_open..search iOS Germany ',
    '3 11:10-11:10 1 session_start..session_start Web Germany anna',
  ]);
  assert.deepEqual(await sessionsOf(BEN), ['1 10:00-10:01 2 session_start..page_view iOS France ']);
  // Events outside sessions are counted per user and day, and make no session.
  const { rows } = await fixtures.db.pool.query(
    `SELECT amplitude_id::int AS user, sum(events)::int AS events, sum(sessionless_events)::int AS sessionless
       FROM amplitude.daily_users WHERE project = 'default' GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(rows, [
    { user: ANNA, events: 9, sessionless: 2 },
    { user: BEN, events: 2, sessionless: 0 },
  ]);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
});

test('sessions that span the calendar, hundreds on one day, are summed without overflow: the fold applies them and daily_metrics reads them', async () => {
  // Each spans 1 BC to 9999 AD (3.65 million days); 700 of them start on one day, whose summed
  // length no interval can hold (its days are a 32-bit integer).
  const spanning = Array.from({ length: 700 }, (_, i) => [
    event(5000 + i, '00:00:00', '00:00:00', 'session_start', { event_time: '0001-01-01T00:30:00+01:00' }),
    event(5000 + i, '00:00:00', '00:00:00', 'page_view', { event_time: '9999-12-31 23:59:59.999999' }),
  ]).flat();
  await load('20240302T10', spanning);
  const { rows: pending } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude_loader.sessions_pending`);
  assert.equal(pending[0].n, 0, 'the run folded its sessions');
  const { rows } = await fixtures.db.pool.query(
    `SELECT sessions::int, average_session_length = interval '3652059 days 00:29:59.999999' AS exact
       FROM amplitude.daily_metrics WHERE project = 'default' AND day = '0001-12-31 BC'`,
  );
  assert.deepEqual(rows, [{ sessions: 700, exact: true }]);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
});

test('a fold that fails after its hour committed says so in the run log, and a later run folds what it left', async () => {
  const holder = await fixtures.db.pool.connect();
  let output: string;
  try {
    // Another session keeps the folded sessions from being written (reads still pass).
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE amplitude_loader.sessions_folded IN EXCLUSIVE MODE');
    const hour = '20240305T08';
    fixtures.api.archive(hour, await hourArchive(hour, [ndjson([event(ANNA, '08:00:00', '08:00:00', 'session_start'), event(ANNA, '08:00:00', '08:03:00', 'page_view')])]));
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour, '--lock-wait', '1']);
    output = result.stdout + result.stderr;
    assert.equal(result.code, 0, output);
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
  assert.match(output, /20240305T08: the rollups' pending changes stay for the next fold: .*lock timeout/);
  const pending = async () => (await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude_loader.sessions_pending`)).rows[0].n as number;
  assert.ok((await pending()) > 0);
  await load('20240305T09', [event(BEN, '09:00:00', '09:00:00', 'session_start')]);
  assert.equal(await pending(), 0);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
});

test('a run leaves the pending tables vacuumed, so the views of folded + pending are not planned over its dead rows', async () => {
  await load('20240306T08', [event(ANNA, '08:00:00', '08:00:00', 'session_start'), event(BEN, '08:10:00', '08:10:00', 'session_start')]);
  const { rows } = await fixtures.db.pool.query(
    `SELECT relname, vacuum_count > 0 AS vacuumed, analyze_count > 0 AS analyzed FROM pg_stat_user_tables
      WHERE schemaname = 'amplitude_loader' AND relname LIKE '%pending%' ORDER BY relname`,
  );
  assert.deepEqual(
    rows.map((r) => `${r.relname} ${r.vacuumed} ${r.analyzed}`),
    ['daily_users_pending', 'device_users_pending', 'event_counts_pending', 'sessions_pending', 'users_pending', 'users_pending_hours'].map((t) => `${t} true true`),
  );
});

test('each hour\'s fold leaves the pending tables vacuumed, so a long run\'s folds do not read the rows earlier folds deleted', async () => {
  const counts = async () =>
    (
      await fixtures.db.pool.query(
        `SELECT vacuum_count::int AS vacuumed, analyze_count::int AS analyzed FROM pg_stat_user_tables WHERE schemaname = 'amplitude_loader' AND relname = 'sessions_pending'`,
      )
    ).rows[0] as { vacuumed: number; analyzed: number };
  const before = await counts();
  const hours = ['20240307T08', '20240307T09', '20240307T10'];
  for (const [i, hour] of hours.entries()) {
    const at = `${String(8 + i).padStart(2, '0')}:00:00`;
    fixtures.api.archive(hour, await hourArchive(hour, [ndjson([event(ANNA, at, at, 'session_start'), event(BEN, at, at, 'session_start')])]));
  }
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240307T08..20240307T10', '--concurrency', '1']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const after = await counts();
  // One vacuum after each hour's fold and one after the run's last (before: only that one); only the
  // last analyzes. SKIP_LOCKED passes over a table autovacuum holds: one of the four may be skipped.
  const vacuums = after.vacuumed - before.vacuumed;
  assert.ok(vacuums >= 3 && vacuums <= 4, `${vacuums} vacuums`);
  assert.ok(after.analyzed - before.analyzed <= 1, `${after.analyzed - before.analyzed} analyzes`);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
});
