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
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
}

let n = 0;
/** An event of `amplitudeId` on `device` at `time` on 2024-03-01; with a user_id when `user` is given. */
function event(amplitudeId: number, device: string, time: string, user: string | null = null, data: Record<string, unknown> = {}) {
  n += 1;
  return makeEvent({
    data,
    uuid: `9e091e00-0000-4000-8000-${String(n).padStart(12, '0')}`,
    $insert_id: `insert-${n}`,
    amplitude_id: amplitudeId,
    device_id: device,
    user_id: user,
    event_time: `2024-03-01 ${time}:00.000000`,
  });
}

async function merges() {
  const { rows } = await fixtures.db.pool.query(
    `SELECT merged_amplitude_id || ' -> ' || amplitude_id || ' at ' || to_char(merge_event_time AT TIME ZONE 'UTC', 'HH24:MI') || ' on ' || device_id
            || CASE evidence WHEN 'device' THEN '' ELSE ' (' || evidence || ')' END AS merge
       FROM amplitude.merged_ids WHERE project = 'default' ORDER BY merged_amplitude_id`,
  );
  return rows.map((r) => r.merge);
}

async function activeOn(day: string) {
  const { rows } = await fixtures.db.pool.query(
    `SELECT active_users::int AS ids, active_people::int AS people FROM amplitude.daily_metrics WHERE project = 'default' AND day = $1`,
    [day],
  );
  return rows[0];
}

test('anonymous devices that log in, one person on two devices, a shared device, a merge seen before its anonymous events, merges events state; a reload takes one back', async () => {
  const KIM = 3001;
  const LEE = 3002;
  const MAX = 3003;
  const kimLogsInOnPhone = event(KIM, 'phone-1', '09:10', 'kim');
  const hour10 = [
    // Kim's phone, anonymous until she logs in.
    event(2001, 'phone-1', '09:00'),
    event(2001, 'phone-1', '09:05'),
    kimLogsInOnPhone,
    // Her laptop, anonymous so far.
    event(2002, 'laptop-1', '09:20'),
    // A tablet two people share: the anonymous id is the first of them to log in.
    event(2003, 'tablet-1', '09:00'),
    event(LEE, 'tablet-1', '09:30', 'lee'),
    event(KIM, 'tablet-1', '09:45', 'kim'),
    // An anonymous id on Kim's phone after her login, never identified after it: not merged.
    event(2005, 'phone-1', '09:50'),
  ];
  await load('20240301T10', hour10);
  assert.deepEqual(await merges(), ['2001 -> 3001 at 09:10 on phone-1', '2003 -> 3002 at 09:30 on tablet-1']);

  // Kim logs in on her laptop in the next hour: its anonymous id is hers too.
  await load('20240301T11', [event(KIM, 'laptop-1', '10:15', 'kim')]);
  // Max's identified event is exported before the anonymous ones of his desktop that came before it.
  await load('20240301T12', [event(MAX, 'desktop-1', '11:00', 'max')]);
  assert.equal((await merges()).length, 3);
  await load('20240301T13', [event(2004, 'desktop-1', '10:30')]);
  assert.deepEqual(await merges(), [
    '2001 -> 3001 at 09:10 on phone-1',
    '2002 -> 3001 at 10:15 on laptop-1',
    '2003 -> 3002 at 09:30 on tablet-1',
    '2004 -> 3003 at 11:00 on desktop-1',
  ]);
  // Ids 2001–2005 and 3001–3003 are four people: Kim (2001, 2002, 3001), Lee (2003, 3002), Max (2004, 3003), and 2005.
  assert.deepEqual(await activeOn('2024-03-01'), { ids: 8, people: 4 });

  // Merges an event states itself (data.merged_amplitude_id) win over the rule, for identified ids too;
  // a value that is not an id is ignored.
  await load('20240301T14', [
    event(4001, 'watch-1', '08:00', 'kim-old'),
    event(KIM, 'watch-1', '13:05', 'kim', { merged_amplitude_id: '4001' }),
    event(MAX, 'desktop-1', '13:00', 'max', { merged_amplitude_id: 2003 }),
    event(KIM, 'desk-2', '13:10', 'kim', { merged_amplitude_id: 'not-an-id' }),
    event(KIM, 'desk-2', '13:11', 'kim', { merged_amplitude_id: '123456789012345678901234' }),
  ]);
  assert.deepEqual(await merges(), [
    '2001 -> 3001 at 09:10 on phone-1',
    '2002 -> 3001 at 10:15 on laptop-1',
    '2003 -> 3003 at 13:00 on desktop-1 (data.merged_amplitude_id)',
    '2004 -> 3003 at 11:00 on desktop-1',
    '4001 -> 3001 at 13:05 on watch-1 (data.merged_amplitude_id)',
  ]);
  assert.deepEqual(await activeOn('2024-03-01'), { ids: 9, people: 4 });
  const { rows: kim } = await fixtures.db.pool.query(
    `SELECT count(*)::int AS events, array_agg(DISTINCT e.amplitude_id ORDER BY e.amplitude_id)::text AS ids
       FROM amplitude.users u JOIN amplitude.events e ON e.project = u.project AND e.amplitude_id = u.amplitude_id
      WHERE u.project = 'default' AND u.person_id = $1`,
    [KIM],
  );
  assert.deepEqual(kim[0], { events: 10, ids: '{2001,2002,3001,4001}' });

  // Hour 10 exported again without Kim's login on her phone: nothing says 2001 is hers any more.
  await load('20240301T10', hour10.filter((e) => e !== kimLogsInOnPhone), ['--reload']);
  assert.deepEqual(await merges(), [
    '2002 -> 3001 at 10:15 on laptop-1',
    '2003 -> 3003 at 13:00 on desktop-1 (data.merged_amplitude_id)',
    '2004 -> 3003 at 11:00 on desktop-1',
    '4001 -> 3001 at 13:05 on watch-1 (data.merged_amplitude_id)',
  ]);
  assert.deepEqual(await activeOn('2024-03-01'), { ids: 9, people: 5 });
  const { rows: people } = await fixtures.db.pool.query(`SELECT active_people::int AS n FROM amplitude.daily_active_people WHERE day = '2024-03-01'`);
  assert.equal(people[0].n, 5);
});
