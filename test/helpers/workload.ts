import type pg from 'pg';
import { hourArchive, ndjson } from './archive.js';
import { makeEvent } from './events.js';
import type { FakeExportApi } from './fake-export-api.js';

/**
 * A few hours of events that overlap the way real exports do: each hour repeats some uuids of the
 * hour before and re-sends some insert_ids, and one hour has a rejected line.
 */
export async function serveWorkload(api: FakeExportApi, options: { day: string; hours: number; eventsPerHour: number; slowHours?: number }): Promise<string> {
  const { day, hours, eventsPerHour } = options;
  let previous: Record<string, unknown>[] = [];
  for (let h = 0; h < hours; h++) {
    const hh = String(h).padStart(2, '0');
    const label = `${day}T${hh}`;
    const at = (minute: number) => `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)} ${hh}:${String(minute % 60).padStart(2, '0')}:00.${String(minute).padStart(6, '0')}`;
    const events: (Record<string, unknown> | string)[] = Array.from({ length: eventsPerHour }, (_, i) =>
      makeEvent({
        uuid: `${String(h).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`,
        event_time: at(i),
        server_upload_time: at(i),
        device_id: `device-${i % 50}`,
        $insert_id: `insert-${h}-${i}`,
        event_properties: { i, h, big: 123456789012345678901234567890n.toString() },
      }),
    );
    // Repeats of the previous hour by uuid, and by insert_id under new uuids.
    for (const repeat of previous.slice(0, 20)) events.push(repeat);
    for (const [i, repeat] of previous.slice(20, 40).entries()) {
      events.push({ ...repeat, uuid: `${String(h).padStart(8, '0')}-1111-4000-8000-${String(i).padStart(12, '0')}`, server_upload_time: at(59) });
    }
    if (h === 1) events.push('{"not": "an event"');
    previous = events.filter((e): e is Record<string, unknown> => typeof e !== 'string');
    const half = Math.ceil(events.length / 2);
    const zip = await hourArchive(label, [ndjson(events.slice(0, half)), ndjson(events.slice(half))]);
    if (h < (options.slowHours ?? 0)) api.answer(label, { status: 200, body: zip, pieces: 8, pieceDelayMs: 60 });
    else api.archive(label, zip);
  }
  return `${day}T00..${day}T${String(hours - 1).padStart(2, '0')}`;
}

/**
 * serveWorkload's overlapping hours with the users analysts ask about: eight users with five events
 * an hour each, half-hour sessions running across upload hours and events outside any session, two
 * anonymous devices whose users log in later (one on a device a known user already has), and a stated
 * merge. Each hour repeats uuids and insert_ids of the hour before, so loading out of order moves rows.
 */
export async function servePeopleWorkload(api: FakeExportApi, options: { day: string; hours: number }): Promise<string> {
  const { day, hours } = options;
  const date = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}`;
  const dayStart = Date.parse(`${date}T00:00:00Z`);
  let previous: Record<string, unknown>[] = [];
  for (let h = 0; h < hours; h++) {
    const hh = String(h).padStart(2, '0');
    const events: Record<string, unknown>[] = [];
    for (let u = 0; u < 8; u++) {
      // Users 6 and 7 browse anonymously on devices of their own until their third hour, when user 6
      // logs in as user-0 and user 7 as a new user-7.
      const anonymous = u >= 6 && h < 2;
      const amplitudeId = anonymous ? 9000 + u : u === 6 ? 1000 : 1000 + u;
      for (let e = 0; e < 5; e++) {
        const minute = u * 7 + e * 11;
        const at = new Date(dayStart + h * 3_600_000 + minute * 60_000 + e * 1000).toISOString().replace('T', ' ').replace('Z', '000');
        const sessionStart = dayStart + h * 3_600_000 + (minute >= 30 ? 30 : 0) * 60_000 - (u % 2) * 900_000;
        events.push(
          makeEvent({
            uuid: `${String(h).padStart(8, '0')}-0000-4000-8000-${String(u * 10 + e).padStart(12, '0')}`,
            event_time: at,
            client_event_time: at,
            server_upload_time: at,
            amplitude_id: amplitudeId,
            user_id: anonymous ? null : u === 6 ? 'user-0' : `user-${u}`,
            device_id: u >= 6 ? `device-${u}` : `device-${u % 5}`,
            session_id: e === 4 ? -1 : sessionStart,
            event_type: e === 0 ? 'session_start' : `action-${e}`,
            platform: u % 3 === 0 ? 'iOS' : 'Web',
            $insert_id: `insert-${h}-${u}-${e}`,
            data: h === 3 && u === 5 && e === 0 ? { merged_amplitude_id: 9006 } : {},
            event_properties: { h, u, e },
          }),
        );
      }
    }
    for (const repeat of previous.slice(0, 8)) events.push(repeat);
    for (const [i, repeat] of previous.slice(8, 16).entries()) {
      events.push({ ...repeat, uuid: `${String(h).padStart(8, '0')}-1111-4000-8000-${String(i).padStart(12, '0')}` });
    }
    previous = events;
    const half = Math.ceil(events.length / 2);
    api.archive(`${day}T${hh}`, await hourArchive(`${day}T${hh}`, [ndjson(events.slice(0, half)), ndjson(events.slice(half))]));
  }
  return `${day}T00..${day}T${String(hours - 1).padStart(2, '0')}`;
}

/** Everything a load decides, in a form two schemas can be compared by. */
export async function snapshotSchema(pool: pg.Pool, schema: string): Promise<Record<string, string[]>> {
  const q = async (sql: string) => (await pool.query(sql)).rows.map((r) => JSON.stringify(r));
  const s = `"${schema}"`;
  const l = `"${schema}_loader"`;
  // loaded_at says when, which two loads never share.
  return {
    events: await q(`SELECT to_jsonb(e) - 'loaded_at' AS row FROM ${s}.events e ORDER BY project, uuid`),
    duplicates: await q(`SELECT to_jsonb(d) - 'loaded_at' AS row FROM ${l}.duplicates d ORDER BY project, upload_hour, archive_entry, archive_line`),
    keys: await q(`SELECT uuid, event_hour, group_hash FROM ${l}.event_keys_1 ORDER BY 1, 2, 3`),
    rejects: await q(`SELECT project, upload_hour, entry_name, line_number, reason, raw_line FROM ${l}.rejects ORDER BY 1, 2, 3, 4`),
    users: await q(`SELECT to_jsonb(u) AS row FROM ${s}.users u ORDER BY project, amplitude_id`),
    daily_users: await q(`SELECT to_jsonb(u) AS row FROM ${s}.daily_users u ORDER BY project, day, amplitude_id, platform`),
    hours: await q(
      `SELECT upload_hour, status, events_read, rejected_lines, sanitized_values, bytes_downloaded, archive_entries, entry_names
         FROM ${l}.upload_hours ORDER BY project, 1`,
    ),
    claims: await q(`SELECT upload_hour FROM ${l}.hour_claims ORDER BY 1`),
  };
}
