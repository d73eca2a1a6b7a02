import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../src/demo/seeded-random.js';
import { toTimestamptz } from '../../src/transform/column-values.js';
import { monthLabel, monthOfMicros, monthStart, utcHourOf, utcMonthOf } from '../../src/transform/utc-calendar.js';

test('a time\'s UTC hour since the epoch and UTC month, offsets and month edges included', () => {
  assert.equal(utcHourOf('1970-01-01 00:00:00+00'), 0);
  assert.equal(utcHourOf('1969-12-31 23:59:59.999999+00'), -1);
  assert.equal(utcHourOf('1970-01-01 00:30:00+01'), -1);
  assert.equal(monthLabel(utcMonthOf('2024-02-29 23:30:00-01:00')), '2024-03');
  assert.equal(monthLabel(utcMonthOf('2024-03-01 00:30:00+05:30')), '2024-02');
  assert.equal(monthLabel(utcMonthOf('2024-12-31 23:00:00-0130')), '2025-01');
  const random = new SeededRandom(42);
  for (let i = 0; i < 2000; i++) {
    const ms = Date.UTC(200 + random.int(9000), random.int(12), 1 + random.int(28), random.int(24), random.int(60), random.int(60));
    const offset = (random.int(29) - 14) * 60 + random.pick([0, 30, 45]);
    const local = new Date(ms + offset * 60_000).toISOString();
    const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
    const text = toTimestamptz(`${local.slice(0, 10)} ${local.slice(11, 19)}.${String(random.int(1_000_000)).padStart(6, '0')}${zone}`) as string;
    assert.equal(utcHourOf(text), Math.floor(ms / 3_600_000), text);
    assert.equal(monthLabel(utcMonthOf(text)), new Date(ms).toISOString().slice(0, 7), text);
    assert.equal(monthOfMicros(BigInt(ms) * 1000n), utcMonthOf(text), text);
  }
});

test('an offset can carry a time past either end of the four-digit calendar', () => {
  const beforeYearOne = toTimestamptz('0001-01-01T00:30:00+01:00') as string;
  assert.equal(monthLabel(utcMonthOf(beforeYearOne)), '0000-12', '1 BC, as PostgreSQL counts year 0');
  assert.equal(utcHourOf(beforeYearOne), utcHourOf('0001-01-01 00:00:00+00') - 1);
  const afterYear9999 = toTimestamptz('9999-12-31T23:30:00-01:00') as string;
  assert.equal(monthLabel(utcMonthOf(afterYear9999)), '10000-01');
  assert.equal(monthLabel(monthOfMicros(-62_167_219_200_000_001n)), '-0001-12', 'the microsecond before year 0');
  assert.equal(monthLabel(monthOfMicros(-1n)), '1969-12');
  assert.equal(monthStart(2024 * 12 + 11), '2024-12-01 00:00:00+00');
});
