import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideCopies, type EventCopy } from '../../src/load/dedup-decisions.js';

const DAY = 86_400_000_000n;
const WINDOW = 7n * DAY;

function copy(partial: Partial<EventCopy> & { uuid: string }): EventCopy {
  return {
    staged: true,
    hour: '2024-03-01 05:00:00+00',
    entry: 'e',
    line: 1,
    serverUploadTime: 0n,
    eventTime: 0n,
    insertGroup: null,
    status: null,
    ...partial,
  };
}

function statuses(copies: EventCopy[], affected: string[], window: bigint | null = WINDOW): string[] {
  const decisions = decideCopies(copies, new Set(affected), window);
  return copies.map((c) => decisions.get(c) as string);
}

test('of copies of one uuid the earliest upload stays, then the earlier hour, entry and line', () => {
  const a = copy({ uuid: 'u', serverUploadTime: 5n, line: 1 });
  const b = copy({ uuid: 'u', serverUploadTime: 3n, line: 2 });
  const c = copy({ uuid: 'u', serverUploadTime: 3n, line: 3 });
  const d = copy({ uuid: 'u', serverUploadTime: null, line: 0 });
  assert.deepEqual(statuses([a, b, c, d], ['u']), ['uuid', 'kept', 'uuid', 'uuid']);
});

test('insert_id duplicates within the window: the earlier upload stays, smaller uuid on a tie', () => {
  const early = copy({ uuid: 'b', serverUploadTime: 1n, eventTime: 0n, insertGroup: 'g' });
  const late = copy({ uuid: 'a', serverUploadTime: 2n, eventTime: WINDOW, insertGroup: 'g' });
  assert.deepEqual(statuses([late, early], []), ['insert_id', 'kept']);
  const tieA = copy({ uuid: 'a', serverUploadTime: 1n, insertGroup: 'g' });
  assert.deepEqual(statuses([early, tieA], []), ['insert_id', 'kept']);
});

test('insert_id copies more than the window apart both stay', () => {
  const first = copy({ uuid: 'a', serverUploadTime: 1n, eventTime: 0n, insertGroup: 'g' });
  const second = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: WINDOW + 1n, insertGroup: 'g' });
  assert.deepEqual(statuses([first, second], []), ['kept', 'kept']);
  assert.deepEqual(statuses([first, copy({ ...second, eventTime: WINDOW })], []), ['kept', 'insert_id']);
});

test('a chain is decided against kept events only, so the same table results from any order', () => {
  const a = copy({ uuid: 'a', serverUploadTime: 1n, eventTime: 0n, insertGroup: 'g' });
  const b = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: 5n * DAY, insertGroup: 'g' });
  const c = copy({ uuid: 'c', serverUploadTime: 3n, eventTime: 10n * DAY, insertGroup: 'g' });
  assert.deepEqual(statuses([c, b, a], []), ['kept', 'insert_id', 'kept']);
});

test('with the rule off only uuids deduplicate', () => {
  const a = copy({ uuid: 'a', serverUploadTime: 1n, insertGroup: 'g' });
  const b = copy({ uuid: 'b', serverUploadTime: 2n, insertGroup: 'g' });
  assert.deepEqual(statuses([a, b], [], null), ['kept', 'kept']);
});

test('a uuid duplicate does not take part in its insert group', () => {
  const keptCopy = copy({ uuid: 'x', serverUploadTime: 1n, insertGroup: 'other' });
  const laterCopy = copy({ uuid: 'x', serverUploadTime: 9n, line: 2, insertGroup: 'g' });
  const member = copy({ uuid: 'y', serverUploadTime: 5n, insertGroup: 'g' });
  assert.deepEqual(statuses([keptCopy, laterCopy, member], ['x']), ['kept', 'uuid', 'kept']);
});

test('stored copies of untouched uuids keep their representative', () => {
  const storedRep = copy({ uuid: 'x', staged: false, status: 'insert_id', serverUploadTime: 9n, insertGroup: 'g' });
  const storedDup = copy({ uuid: 'x', staged: false, status: 'uuid', serverUploadTime: 1n, line: 2, insertGroup: 'h' });
  const newcomer = copy({ uuid: 'y', serverUploadTime: 1n, insertGroup: 'g' });
  // x is untouched, so its stored representative stays the representative; y, uploaded earlier, wins g.
  assert.deepEqual(statuses([storedRep, storedDup, newcomer], []), ['insert_id', 'uuid', 'kept']);
});
