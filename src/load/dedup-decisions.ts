/**
 * Which copies of events stay, decided over every copy ever loaded so that the table ends the same
 * whatever order the hours arrive in:
 *
 * 1. uuid: of the copies of one uuid, the one uploaded first represents the event (ties: earlier
 *    upload hour, entry, line); the others are duplicates by uuid.
 * 2. $insert_id: representatives of one group (app, device or user, insert_id) are visited in order
 *    of server_upload_time, then uuid; one is a duplicate when an already kept member's event_time is
 *    at most the window away. So a later upload never displaces an earlier one.
 *
 * Pure: the caller fetches the affected copies and applies the result.
 */

export type CopyStatus = 'kept' | 'uuid' | 'insert_id';

export interface EventCopy {
  /** True for a copy in the hour being loaded, false for one stored by an earlier hour. */
  readonly staged: boolean;
  /** Upload hour as Postgres prints it in UTC (fixed width, so text order is time order). */
  readonly hour: string;
  readonly entry: string;
  readonly line: number;
  readonly uuid: string;
  /** Epoch microseconds; null when the line had no usable server_upload_time. */
  readonly serverUploadTime: bigint | null;
  readonly eventTime: bigint;
  /** Null when the insert_id rule cannot apply (no insert_id, no device or user). */
  readonly insertGroup: string | null;
  /** The stored decision; null for staged copies. */
  readonly status: CopyStatus | null;
}

function compareUploadTime(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  // A copy without a server_upload_time counts as uploaded last.
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Order among copies of one uuid: the first one represents the event. */
function compareCopiesOfUuid(a: EventCopy, b: EventCopy): number {
  return compareUploadTime(a.serverUploadTime, b.serverUploadTime) || compareStrings(a.hour, b.hour) || compareStrings(a.entry, b.entry) || a.line - b.line;
}

/** Order among events of one insert group: the earlier upload stays, the smaller uuid on a tie. */
function compareGroupMembers(a: EventCopy, b: EventCopy): number {
  return compareUploadTime(a.serverUploadTime, b.serverUploadTime) || compareStrings(a.uuid, b.uuid);
}

function groupBy<K>(copies: Iterable<EventCopy>, key: (copy: EventCopy) => K | null): Map<K, EventCopy[]> {
  const groups = new Map<K, EventCopy[]>();
  for (const copy of copies) {
    const k = key(copy);
    if (k === null) continue;
    const group = groups.get(k);
    if (group) group.push(copy);
    else groups.set(k, [copy]);
  }
  return groups;
}

/**
 * Decides every given copy.
 *
 * @param copies all copies of each uuid in `affectedUuids`, and all copies of every insert group any
 *   of them belongs to, staged and stored
 * @param affectedUuids uuids whose set of copies changed in this load
 * @param windowMicros the insert_id window; null turns the rule off
 */
export function decideCopies(
  copies: readonly EventCopy[],
  affectedUuids: ReadonlySet<string>,
  windowMicros: bigint | null,
): Map<EventCopy, CopyStatus> {
  const representatives = new Set<EventCopy>();
  for (const [uuid, ofUuid] of groupBy(copies, (c) => c.uuid)) {
    if (affectedUuids.has(uuid)) {
      representatives.add(ofUuid.reduce((best, c) => (compareCopiesOfUuid(c, best) < 0 ? c : best)));
    } else {
      // An untouched uuid keeps the representative decided when it was loaded.
      for (const c of ofUuid) if (c.staged || c.status !== 'uuid') representatives.add(c);
    }
  }

  const decisions = new Map<EventCopy, CopyStatus>();
  for (const copy of copies) decisions.set(copy, representatives.has(copy) ? 'kept' : 'uuid');
  if (windowMicros === null) return decisions;

  for (const members of groupBy(representatives, (c) => c.insertGroup).values()) {
    if (members.length < 2) continue;
    members.sort(compareGroupMembers);
    const kept: EventCopy[] = [];
    for (const member of members) {
      const duplicate = kept.some((k) => {
        const distance = member.eventTime - k.eventTime;
        return (distance < 0n ? -distance : distance) <= windowMicros;
      });
      if (duplicate) decisions.set(member, 'insert_id');
      else kept.push(member);
    }
  }
  return decisions;
}
