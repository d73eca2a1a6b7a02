/**
 * The deduplication rule, decided so that the table ends the same whatever order hours load in:
 *
 * 1. uuid: of the copies of one uuid, the one uploaded first represents the event (ties: earlier
 *    upload hour, then earlier in that hour's archive: entry, line); the others are duplicates by uuid.
 * 2. $insert_id: representatives of one group (app, device or else user, insert_id) are visited in
 *    order of server_upload_time, then uuid; one is a duplicate when a member already kept has an
 *    event_time at most the window away. So a later upload never displaces an earlier one.
 *
 * Pure. The caller (dedup.ts) fetches only what an hour contests: every copy of each contested uuid,
 * and the representatives of each contested group within its range widened by the window; it applies
 * the changes and, when asked, widens a range and decides again.
 */

export type CopyStatus = 'kept' | 'uuid' | 'insert_id';

/** Where a copy is: this hour's row (the COPY put it in events), a kept row of another hour, or a dropped copy. */
export type CopyPlace = 'staged' | 'events' | 'duplicates';

export interface EventCopy {
  readonly place: CopyPlace;
  /** Decided before this hour: 'kept' in events, the rule in duplicates; null for this hour's copies. */
  readonly status: CopyStatus | null;
  /** Upload hour, epoch microseconds. */
  readonly hour: bigint;
  /** Entry position and line in the hour's archive. */
  readonly entry: number;
  readonly line: number;
  readonly uuid: string;
  /** Epoch microseconds; null when the line had none (counts as uploaded last). */
  readonly serverUploadTime: bigint | null;
  readonly eventTime: bigint;
  /** Null when the insert_id rule cannot apply (no insert_id, or neither device nor user). */
  readonly group: string | null;
}

/** Event times, epoch microseconds, both ends included. */
export interface TimeRange {
  readonly from: bigint;
  readonly to: bigint;
}

/** What this hour changed, so must be decided afresh. */
export interface ContestedKeys {
  /** Every copy of each of these uuids is among the copies given. */
  readonly uuids: ReadonlySet<string>;
  /** Per group, the range whose members are decided afresh; members within it ± the window are given. */
  readonly groups: ReadonlyMap<string, TimeRange>;
}

export interface Decisions {
  readonly statuses: Map<EventCopy, CopyStatus>;
  /** Groups whose changes reach past their range: fetch these wider ranges and decide again. */
  readonly widen: Map<string, TimeRange>;
}

/** The identity of a copy: one line of one hour's archive. */
export function copyKey(copy: Pick<EventCopy, 'hour' | 'entry' | 'line'>): string {
  return `${copy.hour}/${copy.entry}/${copy.line}`;
}

function compareUploadTime(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function compareBigints(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rule 1's order among copies of one uuid: the first represents the event. */
export function compareCopiesOfUuid(a: EventCopy, b: EventCopy): number {
  return compareUploadTime(a.serverUploadTime, b.serverUploadTime) || compareBigints(a.hour, b.hour) || a.entry - b.entry || a.line - b.line;
}

/** Rule 2's order among the members of one group: the earlier upload stays, the smaller uuid on a tie. */
function compareGroupMembers(a: EventCopy, b: EventCopy): number {
  return compareUploadTime(a.serverUploadTime, b.serverUploadTime) || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0);
}

/** What a copy counts as until decided afresh: its stored decision; a staged copy of a new uuid is kept. */
function standingStatus(copy: EventCopy): CopyStatus {
  return copy.status ?? 'kept';
}

function within(range: TimeRange, time: bigint): boolean {
  return time >= range.from && time <= range.to;
}

function distance(a: bigint, b: bigint): bigint {
  return a > b ? a - b : b - a;
}

/**
 * Decides the given copies. Copies of contested uuids get rule 1 afresh; members of contested groups
 * inside their group's range get rule 2 afresh, against the standing decision of members outside it.
 * Whenever a member changes, everything within the window of it must be inside its range; where that
 * does not hold, `widen` says how far the range must reach, and these decisions are not final.
 *
 * @param windowMicros the insert_id window; null turns rule 2 off
 */
export function decideCopies(copies: readonly EventCopy[], contested: ContestedKeys, windowMicros: bigint | null): Decisions {
  const unique = new Map<string, EventCopy>();
  for (const copy of copies) unique.set(copyKey(copy), copy);

  const statuses = new Map<EventCopy, CopyStatus>();
  const ofUuid = new Map<string, EventCopy[]>();
  for (const copy of unique.values()) {
    if (contested.uuids.has(copy.uuid)) {
      const list = ofUuid.get(copy.uuid);
      if (list) list.push(copy);
      else ofUuid.set(copy.uuid, [copy]);
    } else {
      statuses.set(copy, standingStatus(copy));
    }
  }
  for (const list of ofUuid.values()) {
    const first = list.reduce((best, c) => (compareCopiesOfUuid(c, best) < 0 ? c : best));
    for (const copy of list) statuses.set(copy, copy === first ? 'kept' : 'uuid');
  }

  const widen = new Map<string, TimeRange>();
  if (windowMicros === null) return { statuses, widen };

  const members = new Map<string, EventCopy[]>();
  for (const [copy, status] of statuses) {
    if (status === 'uuid' || copy.group === null || !contested.groups.has(copy.group)) continue;
    const list = members.get(copy.group);
    if (list) list.push(copy);
    else members.set(copy.group, [copy]);
  }
  for (const [group, list] of members) {
    const range = contested.groups.get(group) as TimeRange;
    list.sort(compareGroupMembers);
    const kept: EventCopy[] = [];
    let from = range.from;
    let to = range.to;
    for (const member of list) {
      let status = statuses.get(member) as CopyStatus;
      if (within(range, member.eventTime)) {
        status = kept.some((k) => distance(member.eventTime, k.eventTime) <= windowMicros) ? 'insert_id' : 'kept';
        statuses.set(member, status);
        // A member whose standing changed affects its neighbours within the window.
        const changed = status !== standingStatus(member);
        if (changed && member.eventTime - windowMicros < from) from = member.eventTime - windowMicros;
        if (changed && member.eventTime + windowMicros > to) to = member.eventTime + windowMicros;
      }
      if (status === 'kept') kept.push(member);
    }
    if (from !== range.from || to !== range.to) widen.set(group, { from, to });
  }
  return { statuses, widen };
}
