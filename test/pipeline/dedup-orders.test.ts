import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../src/demo/seeded-random.js';
import { decideCopies, type EventCopy, type TimeRange } from '../../src/load/dedup-rule.js';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad, startCli, loaderEnv } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';

// Hours whose events collide every way dedup must handle: uuids repeated within an hour and across
// hours, with the same or another content, event_time, month or insert group; insert_ids re-sent on
// one device near and far in time (chains across the window, across a month's edge); equal upload
// times. Every load order must leave exactly what the rule decides over all copies at once, and rollups
// that equal a recomputation from the rows (assertNoHalfLoadedHours checks them).
const DAY = 86_400_000_000n;
const WINDOW = 7n * DAY;
const HOURS = Array.from({ length: 8 }, (_, h) => `20240301T${String(h).padStart(2, '0')}`);
const PARTS = 2;

interface Line {
  readonly event: Record<string, unknown>;
  readonly copy: EventCopy;
}

const BASE = Date.UTC(2024, 2, 1);
function stamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

function group(app: number, device: string, user: string, insertId: string): string | null {
  if (insertId === '' || (device === '' && user === '')) return null;
  return `${app}/${device !== '' ? `d${device.length}:${device}` : `u${user.length}:${user}`}/${insertId}`;
}

/** The archives' lines, by hour and part, with each line's copy as the rule sees it. */
function workload(seed: number): Line[][][] {
  const random = new SeededRandom(seed);
  const earlier: Record<string, unknown>[] = [];
  return HOURS.map((_, h) =>
    Array.from({ length: PARTS }, (_, part) => {
      const lines: Line[] = [];
      const count = 25 + random.int(25);
      for (let i = 0; i < count; i++) {
        const uploadMs = BASE + h * 3_600_000 + random.int(4) * 900_000;
        let event: Record<string, unknown>;
        const roll = random.next();
        if (roll < 0.25 && earlier.length > 0) {
          // The same uuid again: as it was, or with another time (another month), device or insert_id.
          const again = { ...random.pick(earlier) };
          const change = random.int(4);
          if (change === 1) again.event_time = stamp(BASE - random.int(40) * DAY_MS + random.int(80) * DAY_MS);
          if (change === 2) again.device_id = `d${random.int(3)}`;
          if (change === 3) again.server_upload_time = stamp(uploadMs);
          event = again;
        } else {
          const eventMs = BASE + (random.int(60) - 30) * DAY_MS + random.int(3) * 3_600_000;
          // A third of the events are anonymous ids' (no user_id), on the devices identified users use:
          // merges, whose times move as the copies do.
          const anonymous = random.next() < 0.33;
          event = makeEvent({
            uuid: random.uuid(),
            app: 1 + random.int(2),
            device_id: random.next() < 0.2 ? '' : `d${random.int(3)}`,
            user_id: anonymous ? null : `u${random.int(3)}`,
            $insert_id: random.next() < 0.1 ? '' : `i${random.int(6)}`,
            event_time: stamp(eventMs),
            client_event_time: stamp(eventMs),
            server_upload_time: stamp(uploadMs),
            city: `c${random.int(1000)}`,
            // What the rollups count by: a few users on a few platforms, whose latest properties differ,
            // in a few sessions each (or none), whose rows move between months with their copies.
            amplitude_id: anonymous ? 2000 + random.int(4) : 1000 + random.int(5),
            session_id: random.next() < 0.2 ? -1 : 1709269920000 + random.int(3),
            platform: random.pick(['iOS', 'Web', 'Android']),
            country: random.pick(['Germany', 'France']),
            event_type: random.pick(['open', 'buy']),
            user_properties: { n: random.int(100) },
            // A few state a merge themselves, and move with their copies.
            data: random.next() < 0.05 ? { merged_amplitude_id: 2000 + random.int(4) } : {},
          });
        }
        earlier.push(event);
        lines.push({ event, copy: copyOf(event, h, part + 1, i + 1) });
      }
      return lines;
    }),
  );
}
const DAY_MS = 86_400_000;

function micros(text: string): bigint {
  const ms = Date.parse(`${text.slice(0, 10)}T${text.slice(11, 23)}Z`);
  return BigInt(ms) * 1000n + BigInt(Number(text.slice(23, 26)));
}

function copyOf(event: Record<string, unknown>, hour: number, entry: number, line: number): EventCopy {
  return {
    place: 'staged',
    status: null,
    hour: BigInt(BASE + hour * 3_600_000) * 1000n,
    entry,
    line,
    uuid: event.uuid as string,
    serverUploadTime: micros(event.server_upload_time as string),
    eventTime: micros(event.event_time as string),
    group: group(event.app as number, event.device_id as string, (event.user_id as string | null) ?? '', event.$insert_id as string),
  };
}

/** What the rule decides over every copy at once: the kept copies, and the dropped ones with their rule. */
function expected(hours: Line[][][]): string[] {
  const copies = hours.flat(2).map((l) => l.copy);
  const everywhere: TimeRange = { from: -(2n ** 62n), to: 2n ** 62n };
  const groups = new Map(copies.filter((c) => c.group !== null).map((c) => [c.group as string, everywhere]));
  const { statuses } = decideCopies(copies, { uuids: new Set(copies.map((c) => c.uuid)), groups }, WINDOW);
  return copies.map((c) => `${new Date(Number(c.hour / 1000n)).toISOString()} ${c.entry} ${c.line} ${statuses.get(c)}`).sort();
}

async function serve(hours: Line[][][]): Promise<void> {
  for (const [h, parts] of hours.entries()) {
    fixtures.api.archive(HOURS[h] as string, await hourArchive(HOURS[h] as string, parts.map((lines) => ndjson(lines.map((l) => l.event)))));
  }
}

async function decided(schema: string): Promise<string[]> {
  const { rows } = await fixtures.db.pool.query<{ row: string }>(
    `SELECT to_char(upload_hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' ' || archive_entry || ' ' || archive_line || ' kept' AS row FROM "${schema}".events
     UNION ALL
     SELECT to_char(upload_hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' ' || archive_entry || ' ' || archive_line || ' ' || rule FROM "${schema}_loader".duplicates`,
  );
  return rows.map((r) => r.row).sort();
}

const fixtures = useLoaderFixtures();

async function load(schema: string, range: string, extra: string[] = []) {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', schema, '--range', range, ...extra]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

const hours = workload(0x0dd5);
const want = expected(hours);

test('the workload contests every rule: uuid repeats, insert_id duplicates, and chains', () => {
  const rules = new Set(want.map((r) => r.split(' ')[3]));
  assert.deepEqual([...rules].sort(), ['insert_id', 'kept', 'uuid']);
});

test('forwards, one hour at a time, leaves exactly what the rule decides over all copies', async () => {
  await serve(hours);
  for (const hour of HOURS) await load('forwards', hour);
  assert.deepEqual(await decided('forwards'), want);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'forwards');
});

test('backwards, and in a shuffled order, the same', async () => {
  for (const hour of [...HOURS].reverse()) await load('backwards', hour);
  assert.deepEqual(await decided('backwards'), want);
  const random = new SeededRandom(7);
  const shuffled = [...HOURS].sort(() => random.next() - 0.5);
  for (const hour of shuffled) await load('shuffled', hour);
  assert.deepEqual(await decided('shuffled'), want);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'shuffled');
});

test('four hours at a time (their lines encoded on worker threads), and two loaders at once, the same', async () => {
  await load('parallel', `${HOURS[0]}..${HOURS[7]}`, ['--concurrency', '4', '--transform-threads', '3']);
  assert.deepEqual(await decided('parallel'), want);
  const env = loaderEnv(fixtures.api.url, fixtures.db.url);
  const runs = [startCli(['load', '--schema', 'two', '--range', `${HOURS[0]}..${HOURS[7]}`, '--concurrency', '3'], env), startCli(['load', '--schema', 'two', '--range', `${HOURS[7]}..${HOURS[7]}`], env)];
  for (const run of runs) {
    const result = await run.result;
    assert.equal(result.code, 0, result.stdout + result.stderr);
  }
  assert.deepEqual(await decided('two'), want);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'two');
});

test('reloading hours whose archives changed leaves what the rule decides over the new archives', async () => {
  const changed = workload(0x0dd5);
  // Hour 2 loses its first part's lines past the fifth; hour 5 gains the first lines of hour 1 again.
  const two = changed[2] as Line[][];
  two[0] = (two[0] as Line[]).slice(0, 5);
  const five = changed[5] as Line[][];
  const again = (changed[1] as Line[][])[0]?.slice(0, 8) ?? [];
  five[1] = [...(five[1] as Line[]), ...again.map((l, i) => ({ event: l.event, copy: copyOf(l.event, 5, 2, (five[1] as Line[]).length + i + 1) }))];
  await serve(changed);
  // Hours reloading at once move each other's rows while they settle.
  await load('forwards', `${HOURS[2]}..${HOURS[5]}`, ['--reload', '--concurrency', '2']);
  assert.deepEqual(await decided('forwards'), expected(changed));
  await assertNoHalfLoadedHours(fixtures.db.pool, 'forwards');
  await load('parallel', `${HOURS[0]}..${HOURS[7]}`, ['--reload', '--concurrency', '4']);
  assert.deepEqual(await decided('parallel'), expected(changed));
  await assertNoHalfLoadedHours(fixtures.db.pool, 'parallel');
});

test('the rollups read exact while every change waits unfolded (a fold held off), and after the fold', async () => {
  // The fold's lock, held by another session: every fold finds it taken and leaves its changes pending.
  const holder = await fixtures.db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(hashtextextended('amplitude-pg fold ' || 'held' || ' ' || 'default', 0))`);
    await serve(hours);
    // Backwards and in parallel: later hours' rows displace earlier ones', so moves add and take away.
    await load('held', `${HOURS[4]}..${HOURS[7]}`, ['--concurrency', '3', '--lock-wait', '1']);
    await load('held', `${HOURS[0]}..${HOURS[3]}`, ['--concurrency', '3', '--lock-wait', '1']);
    await load('held', `${HOURS[1]}..${HOURS[2]}`, ['--reload', '--lock-wait', '1']);
    const { rows } = await fixtures.db.pool.query(
      `SELECT (SELECT count(*) FROM held_loader.event_counts_folded)::int AS folded,
              (SELECT count(*) FROM held_loader.event_counts_pending)::int AS pending,
              (SELECT count(*) FROM held_loader.users_pending WHERE complete)::int AS complete`,
    );
    assert.deepEqual({ folded: rows[0].folded, anyPending: rows[0].pending > 0, anyComplete: rows[0].complete > 0 }, { folded: 0, anyPending: true, anyComplete: true });
    assert.deepEqual(await decided('held'), want);
    await assertNoHalfLoadedHours(fixtures.db.pool, 'held');
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
  // The next run folds everything pending.
  await load('held', `${HOURS[0]}..${HOURS[7]}`);
  const { rows } = await fixtures.db.pool.query(
    `SELECT (SELECT count(*) FROM held_loader.event_counts_pending)::int + (SELECT count(*) FROM held_loader.daily_users_pending)::int
          + (SELECT count(*) FROM held_loader.users_pending)::int AS pending`,
  );
  assert.equal(rows[0].pending, 0);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'held');
});
