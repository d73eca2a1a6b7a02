import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { zeroCounters } from '../../src/counters.js';
import { estimatedRows, finishedHours, hourHasRows, hoursOverview, recordHourDone, recordHourFailed, resumeHour } from '../../src/state/hour-records.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => db.drop());

const at = (hour: string) => `2024-03-01T${hour}:00:00.000Z`;
const amplitude = { schema: 'amplitude', project: 'default' };
const web = { schema: 'amplitude', project: 'web' };

test('recorded hours: done ones, where a --since-last run resumes, a failed one that loaded before keeps its rows', async () => {
  const counters = { ...zeroCounters(), eventsRead: 10, rowsInserted: 9 };
  await recordHourDone(db.pool, amplitude, { hour: at('01'), status: 'loaded', attempts: 1, startedAt: new Date(), counters, entryNames: ['a', 'b'] });
  await recordHourDone(db.pool, amplitude, { hour: at('02'), status: 'empty', attempts: 2, startedAt: new Date(), counters: zeroCounters(), entryNames: [] });
  await recordHourFailed(db.pool, amplitude, { hour: at('04'), attempts: 6, startedAt: new Date(), error: 'HTTP 504' });
  await recordHourFailed(db.pool, amplitude, { hour: at('01'), attempts: 1, startedAt: new Date(), error: 'a failed reload' });

  assert.deepEqual([...(await finishedHours(db.pool, amplitude, at('00'), at('23')))].sort(), [at('01'), at('02')]);
  assert.equal(await hourHasRows(db.pool, amplitude, at('01')), true, 'a failed reload keeps the hour loaded');
  assert.equal(await hourHasRows(db.pool, amplitude, at('02')), false);
  assert.equal(await resumeHour(db.pool, amplitude), at('03'));
  // Another project's hours are its own: none of the above is loaded for it.
  await recordHourDone(db.pool, web, { hour: at('07'), status: 'loaded', attempts: 1, startedAt: new Date(), counters, entryNames: ['w'] });
  assert.deepEqual([...(await finishedHours(db.pool, web, at('00'), at('23')))], [at('07')]);
  assert.equal(await hourHasRows(db.pool, web, at('01')), false);
  assert.equal(await resumeHour(db.pool, web), at('08'));
  assert.deepEqual([...(await finishedHours(db.pool, amplitude, at('00'), at('23')))].sort(), [at('01'), at('02')]);
  const { rows } = await db.pool.query(`SELECT attempts, last_error, entry_names FROM amplitude_loader.upload_hours WHERE project = 'default' AND upload_hour = $1`, [at('01')]);
  assert.deepEqual(rows, [{ attempts: 2, last_error: 'a failed reload', entry_names: ['a', 'b'] }]);
});

test('the overview spans the done hours, lists the failed ones and sums the recent days', async () => {
  const overview = await hoursOverview(db.pool, amplitude);
  assert.equal(overview.firstDone, at('01'));
  assert.equal(overview.lastDone, at('02'));
  assert.deepEqual(overview.counts, { loaded: 1, empty: 1, failed: 1 });
  assert.deepEqual(overview.failures.map((f) => [f.hour, f.attempts, f.lastError]), [[at('04'), 6, 'HTTP 504']]);
  assert.deepEqual(overview.recentDays, [{ day: '2024-03-01', hours: 3, eventsRead: 10, rowsInserted: 9 }]);
  await db.pool.query('ANALYZE amplitude_loader.duplicates');
  const rows = await estimatedRows(db.pool, 'amplitude');
  assert.equal(rows.duplicates, 0);
});
