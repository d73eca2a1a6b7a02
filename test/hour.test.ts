import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHour, hourCount, lastAvailableHour, parseHourRange } from '../src/hour.js';

const formatted = (text: string) => {
  const range = parseHourRange(text);
  return [formatHour(range.first), formatHour(range.last), hourCount(range)];
};

test('ranges of hours, days and single hours', () => {
  assert.deepEqual(formatted('20240301T00..20240307T23'), ['20240301T00', '20240307T23', 168]);
  assert.deepEqual(formatted('20240301..20240307'), ['20240301T00', '20240307T23', 168]);
  assert.deepEqual(formatted('20240301T05'), ['20240301T05', '20240301T05', 1]);
  assert.deepEqual(formatted('20240229'), ['20240229T00', '20240229T23', 24]);
  assert.deepEqual(formatted('20231231T23..20240101T00'), ['20231231T23', '20240101T00', 2]);
});

test('malformed ranges and impossible dates are refused', () => {
  for (const bad of ['2024030105', '20240301T5', '20230229', '20240301T24', '20240301..', 'x..y', '20240301T00..20240301T01..20240301T02', '']) {
    assert.throws(() => parseHourRange(bad), Error, bad);
  }
  assert.throws(() => parseHourRange('20240302..20240301'), /ends .* before it starts/);
});

test('an hour is available once it ended two hours ago', () => {
  assert.equal(formatHour(lastAvailableHour(new Date('2024-03-01T23:00:00Z'), 2)), '20240301T20');
  assert.equal(formatHour(lastAvailableHour(new Date('2024-03-01T22:59:59Z'), 2)), '20240301T19');
});
