import assert from 'node:assert/strict';
import { test } from 'node:test';
import { monthOfMicros, partitionMonth, previousMonth } from '../../src/load/partitions.js';

test('partition months: bounds and names across a year, the month before, and any year', () => {
  assert.deepEqual(partitionMonth('2024-12'), { from: '2024-12-01 00:00:00+00', to: '2025-01-01 00:00:00+00', suffix: '2024_12' });
  assert.deepEqual(partitionMonth('0999-03'), { from: '0999-03-01 00:00:00+00', to: '0999-04-01 00:00:00+00', suffix: '0999_03' });
  assert.equal(previousMonth('2024-01'), '2023-12');
  assert.equal(previousMonth('2024-10'), '2024-09');
  assert.equal(previousMonth('0100-01'), '0099-12');
  assert.equal(monthOfMicros(BigInt(Date.UTC(2024, 1, 29, 23, 59, 59)) * 1000n + 999n), '2024-02');
  assert.equal(monthOfMicros(-1n), '1969-12');
});
