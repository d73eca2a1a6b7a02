import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideCopies, type EventCopy, type TimeRange } from '../../src/load/dedup-rule.js';

const DAY = 86_400_000_000n;
const WINDOW = 7n * DAY;
const EVERYWHERE: TimeRange = { from: -1000n * DAY, to: 1000n * DAY };

let nextLine = 1;
function copy(partial: Partial<EventCopy> & { uuid: string }): EventCopy {
  return {
    place: 'staged',
    status: null,
    hour: 0n,
    entry: 1,
    line: nextLine++,
    serverUploadTime: 0n,
    eventTime: 0n,
    group: null,
    ...partial,
  };
}

/** Decides with every given uuid contested and every group decided over all time. */
function statuses(copies: EventCopy[], window: bigint | null = WINDOW): string[] {
  const groups = new Map(copies.filter((c) => c.group !== null).map((c) => [c.group as string, EVERYWHERE]));
  const { statuses: decided, widen } = decideCopies(copies, { uuids: new Set(copies.map((c) => c.uuid)), groups }, window);
  assert.equal(widen.size, 0);
  return copies.map((c) => decided.get(c) as string);
}

test('of copies of one uuid the earliest upload stays, then the earlier hour, entry and line', () => {
  const a = copy({ uuid: 'u', serverUploadTime: 5n, line: 1 });
  const b = copy({ uuid: 'u', serverUploadTime: 3n, hour: 2n, line: 2 });
  const c = copy({ uuid: 'u', serverUploadTime: 3n, hour: 1n, entry: 2, line: 1 });
  const d = copy({ uuid: 'u', serverUploadTime: 3n, hour: 1n, entry: 1, line: 9 });
  const e = copy({ uuid: 'u', serverUploadTime: null, line: 0 });
  assert.deepEqual(statuses([a, b, c, d, e]), ['uuid', 'uuid', 'uuid', 'kept', 'uuid']);
});

test('insert_id duplicates within the window: the earlier upload stays, smaller uuid on a tie', () => {
  const early = copy({ uuid: 'b', serverUploadTime: 1n, eventTime: 0n, group: 'g' });
  const late = copy({ uuid: 'a', serverUploadTime: 2n, eventTime: WINDOW, group: 'g' });
  assert.deepEqual(statuses([late, early]), ['insert_id', 'kept']);
  const tieA = copy({ uuid: 'a', serverUploadTime: 1n, group: 'g' });
  assert.deepEqual(statuses([early, tieA]), ['insert_id', 'kept']);
});

test('insert_id copies more than the window apart both stay', () => {
  const first = copy({ uuid: 'a', serverUploadTime: 1n, eventTime: 0n, group: 'g' });
  const second = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: WINDOW + 1n, group: 'g' });
  assert.deepEqual(statuses([first, second]), ['kept', 'kept']);
  assert.deepEqual(statuses([first, copy({ ...second, line: nextLine++, eventTime: WINDOW })]), ['kept', 'insert_id']);
});

test('a chain is decided against kept events only, so the same table results from any order', () => {
  const a = copy({ uuid: 'a', serverUploadTime: 1n, eventTime: 0n, group: 'g' });
  const b = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: 5n * DAY, group: 'g' });
  const c = copy({ uuid: 'c', serverUploadTime: 3n, eventTime: 10n * DAY, group: 'g' });
  assert.deepEqual(statuses([c, b, a]), ['kept', 'insert_id', 'kept']);
});

test('with the rule off only uuids deduplicate', () => {
  const a = copy({ uuid: 'a', serverUploadTime: 1n, group: 'g' });
  const b = copy({ uuid: 'b', serverUploadTime: 2n, group: 'g' });
  assert.deepEqual(statuses([a, b], null), ['kept', 'kept']);
});

test('a uuid duplicate does not take part in its insert group', () => {
  const keptCopy = copy({ uuid: 'x', serverUploadTime: 1n, group: 'other' });
  const laterCopy = copy({ uuid: 'x', serverUploadTime: 9n, group: 'g' });
  const member = copy({ uuid: 'y', serverUploadTime: 5n, group: 'g' });
  assert.deepEqual(statuses([keptCopy, laterCopy, member]), ['kept', 'uuid', 'kept']);
});

test('copies of uncontested uuids keep their standing: stored decisions, and kept for this hour\'s new ones', () => {
  const storedRep = copy({ uuid: 'x', place: 'duplicates', status: 'insert_id', serverUploadTime: 9n, group: 'h' });
  const storedDup = copy({ uuid: 'x', place: 'duplicates', status: 'uuid', serverUploadTime: 1n });
  const newcomer = copy({ uuid: 'y', serverUploadTime: 1n, group: 'k' });
  const { statuses: decided } = decideCopies([storedRep, storedDup, newcomer], { uuids: new Set(), groups: new Map() }, WINDOW);
  assert.deepEqual([storedRep, storedDup, newcomer].map((c) => decided.get(c)), ['insert_id', 'uuid', 'kept']);
});

test('outside its range a member keeps its standing and still counts for the members inside', () => {
  const outside = copy({ uuid: 'a', place: 'events', status: 'kept', serverUploadTime: 1n, eventTime: 0n, group: 'g' });
  const inside = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: 3n * DAY, group: 'g' });
  const range = { from: 2n * DAY, to: 20n * DAY };
  const { statuses: decided, widen } = decideCopies([outside, inside], { uuids: new Set(), groups: new Map([['g', range]]) }, WINDOW);
  assert.equal(decided.get(outside), 'kept');
  assert.equal(decided.get(inside), 'insert_id');
  // The newcomer was standing as kept; dropping it can change members up to a window around it.
  assert.deepEqual(widen.get('g'), { from: 3n * DAY - WINDOW, to: 20n * DAY });
});

test('a change deep inside the range needs no wider one', () => {
  const kept = copy({ uuid: 'a', place: 'events', status: 'kept', serverUploadTime: 1n, eventTime: 10n * DAY, group: 'g' });
  const newcomer = copy({ uuid: 'b', serverUploadTime: 2n, eventTime: 11n * DAY, group: 'g' });
  const range = { from: 0n, to: 30n * DAY };
  const { statuses: decided, widen } = decideCopies([kept, newcomer], { uuids: new Set(), groups: new Map([['g', range]]) }, WINDOW);
  assert.equal(decided.get(newcomer), 'insert_id');
  assert.equal(widen.size, 0);
});
