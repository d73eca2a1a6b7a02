-- People, not ids. Amplitude gives an anonymous device its own amplitude_id; when a known user logs in
-- on it, Amplitude merges that id into the known user's, but the events exported before keep the old
-- id, and the Export API ships no MERGE_IDS table. The loader infers the merges from the events:
--
--   an amplitude_id none of whose events carries a user_id (anonymous) is merged into the amplitude_id
--   of the first event with a user_id on a device where the anonymous id had an event before it (the
--   first by event_time, then amplitude_id); that time is the merge's. An event whose data holds
--   merged_amplitude_id says so itself, and wins.
--
-- What it needs of the events is kept as a rollup like the others (0013, 0016): per project, device
-- and amplitude_id, the first event's time and the first identified event's time. Both are minimums: an
-- hour that takes a row away appends the pair's whole state as events then have it (complete), ordered
-- by users_pending_hours like users and sessions. Events without a device_id count for "anonymous"
-- (their key is the NULL device) but are on no device.

CREATE TABLE :LOADER_SCHEMA.device_users_folded (
  project text NOT NULL,
  device_id text,
  amplitude_id bigint NOT NULL,
  first_seen timestamptz NOT NULL,
  first_identified_at timestamptz,
  device_key bytea GENERATED ALWAYS AS (:LOADER_SCHEMA.text_key(device_id)) STORED
);
CREATE UNIQUE INDEX device_users_folded_key ON :LOADER_SCHEMA.device_users_folded (project, device_key, amplitude_id);
-- An id's devices, for one user's merge.
CREATE INDEX device_users_folded_user ON :LOADER_SCHEMA.device_users_folded (project, amplitude_id);

CREATE TABLE :LOADER_SCHEMA.device_users_pending (
  project text NOT NULL,
  device_id text,
  amplitude_id bigint NOT NULL,
  first_seen timestamptz,
  first_identified_at timestamptz,
  complete boolean NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

INSERT INTO :LOADER_SCHEMA.device_users_folded (project, device_id, amplitude_id, first_seen, first_identified_at)
SELECT project, device_id, amplitude_id, min(event_time), min(event_time) FILTER (WHERE user_id IS NOT NULL)
  FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL GROUP BY project, device_id, amplitude_id;

-- Folded + pending, merged as users and sessions are. Internal: merged_ids reads it.
CREATE VIEW :LOADER_SCHEMA.device_users AS
WITH pending AS (
  SELECT p.project, p.device_id, :LOADER_SCHEMA.text_key(p.device_id) AS device_key, p.amplitude_id, p.first_seen, p.first_identified_at, p.complete, h.merge_seq
    FROM :LOADER_SCHEMA.device_users_pending p JOIN :LOADER_SCHEMA.users_pending_hours h ON h.xid = p.xid),
since AS (
  SELECT project, device_key, amplitude_id, max(merge_seq) FILTER (WHERE complete) AS merge_seq FROM pending GROUP BY project, device_key, amplitude_id)
SELECT f.project, f.device_id, f.device_key, f.amplitude_id, f.first_seen, f.first_identified_at
  FROM :LOADER_SCHEMA.device_users_folded f
 WHERE NOT EXISTS (SELECT FROM since s WHERE s.project = f.project AND s.device_key = f.device_key AND s.amplitude_id = f.amplitude_id)
UNION ALL
SELECT c.project, min(c.device_id), c.device_key, c.amplitude_id, min(c.first_seen), min(c.first_identified_at)
  FROM (SELECT p.project, p.device_id, p.device_key, p.amplitude_id, p.first_seen, p.first_identified_at
          FROM pending p JOIN since s USING (project, device_key, amplitude_id)
         WHERE s.merge_seq IS NULL OR p.merge_seq > s.merge_seq OR (p.complete AND p.merge_seq = s.merge_seq)
        UNION ALL
        SELECT f.project, f.device_id, f.device_key, f.amplitude_id, f.first_seen, f.first_identified_at
          FROM :LOADER_SCHEMA.device_users_folded f JOIN since s USING (project, device_key, amplitude_id)
         WHERE s.merge_seq IS NULL) c
 WHERE c.first_seen IS NOT NULL
 GROUP BY c.project, c.device_key, c.amplitude_id;

-- Where an event says it itself (data.merged_amplitude_id, a whole number that fits a bigint; any other
-- value is ignored), that merge wins over the rule: the event's amplitude_id is the id kept. Such events
-- are rare. Each is noted in stated_merges, in the statement that writes or moves it (load/rollups.ts),
-- so merged_ids reads no events: on Citus an analyst's query may not combine the distributed events
-- with the loader's tables. A partial index finds an hour's stating events among its rows.
CREATE INDEX events_merge_statements_idx ON :AMPLITUDE_SCHEMA.events (loaded_at) WHERE data ? 'merged_amplitude_id';
CREATE TABLE :LOADER_SCHEMA.stated_merges (
  project text NOT NULL,
  upload_hour timestamptz NOT NULL,
  archive_entry integer NOT NULL,
  archive_line integer NOT NULL,
  loaded_at timestamptz NOT NULL,
  amplitude_id bigint NOT NULL,
  merged_amplitude_id bigint NOT NULL,
  event_time timestamptz NOT NULL,
  device_id text,
  PRIMARY KEY (project, upload_hour, archive_entry, archive_line, loaded_at)
);
CREATE INDEX stated_merges_merged ON :LOADER_SCHEMA.stated_merges (project, merged_amplitude_id);
INSERT INTO :LOADER_SCHEMA.stated_merges
SELECT project, upload_hour, archive_entry, archive_line, loaded_at, amplitude_id, (data->>'merged_amplitude_id')::bigint, event_time, device_id
  FROM :AMPLITUDE_SCHEMA.events
 WHERE data ? 'merged_amplitude_id' AND data->>'merged_amplitude_id' ~ '^[0-9]{1,18}$' AND amplitude_id IS NOT NULL;

-- Shaped as Amplitude's MERGE_IDS_<project>: amplitude_id is the id kept, merged_amplitude_id the one
-- merged into it, merge_event_time when. Reading one id's merge reads that id's devices and those
-- devices' ids, and its stated merges, through the indexes.
CREATE VIEW :AMPLITUDE_SCHEMA.merged_ids AS
SELECT DISTINCT ON (project, merged_amplitude_id) project, amplitude_id, merged_amplitude_id, merge_event_time, device_id, evidence
  FROM (SELECT project, amplitude_id, merged_amplitude_id, event_time AS merge_event_time, device_id, 'data.merged_amplitude_id'::text AS evidence,
               0 AS precedence
          FROM :LOADER_SCHEMA.stated_merges
        UNION ALL
        SELECT a.project, k.amplitude_id, a.amplitude_id, k.first_identified_at, a.device_id, 'device', 1
          FROM :LOADER_SCHEMA.device_users a
          JOIN :LOADER_SCHEMA.device_users k ON k.project = a.project AND k.device_key = a.device_key AND k.first_identified_at >= a.first_seen
         WHERE a.device_id IS NOT NULL
           AND NOT EXISTS (SELECT FROM :LOADER_SCHEMA.device_users i WHERE i.project = a.project AND i.amplitude_id = a.amplitude_id AND i.first_identified_at IS NOT NULL)) m
 WHERE merged_amplitude_id IS NOT NULL AND merged_amplitude_id <> amplitude_id
 ORDER BY project, merged_amplitude_id, precedence, merge_event_time, amplitude_id;

-- users gains person_id: the id a merge keeps, or the user's own.
CREATE OR REPLACE VIEW :AMPLITUDE_SCHEMA.users AS
WITH pending AS (
  SELECT p.project, p.amplitude_id, p.first_seen, p.last_seen, p.last_event_uuid, p.user_id, p.user_properties, p.complete, h.merge_seq
    FROM :LOADER_SCHEMA.users_pending p JOIN :LOADER_SCHEMA.users_pending_hours h ON h.xid = p.xid),
since AS (
  SELECT project, amplitude_id, max(merge_seq) FILTER (WHERE complete) AS merge_seq FROM pending GROUP BY project, amplitude_id),
states AS (
  SELECT f.project, f.amplitude_id, f.first_seen, f.last_seen, f.last_event_uuid, f.user_id, f.user_properties
    FROM :LOADER_SCHEMA.users_folded f
   WHERE NOT EXISTS (SELECT FROM since s WHERE s.project = f.project AND s.amplitude_id = f.amplitude_id)
  UNION ALL
  (SELECT DISTINCT ON (c.project, c.amplitude_id)
          c.project, c.amplitude_id, min(c.first_seen) OVER (PARTITION BY c.project, c.amplitude_id), c.last_seen, c.last_event_uuid, c.user_id, c.user_properties
     FROM (SELECT p.project, p.amplitude_id, p.first_seen, p.last_seen, p.last_event_uuid, p.user_id, p.user_properties
             FROM pending p JOIN since s USING (project, amplitude_id)
            WHERE s.merge_seq IS NULL OR p.merge_seq > s.merge_seq OR (p.complete AND p.merge_seq = s.merge_seq)
           UNION ALL
           SELECT f.project, f.amplitude_id, f.first_seen, f.last_seen, f.last_event_uuid, f.user_id, f.user_properties
             FROM :LOADER_SCHEMA.users_folded f JOIN since s USING (project, amplitude_id)
            WHERE s.merge_seq IS NULL) c
    WHERE c.last_seen IS NOT NULL
    ORDER BY c.project, c.amplitude_id, c.last_seen DESC, c.last_event_uuid DESC))
SELECT u.project, u.amplitude_id, u.first_seen, u.last_seen, u.last_event_uuid, u.user_id, u.user_properties,
       coalesce(m.amplitude_id, u.amplitude_id) AS person_id
  FROM states u
  LEFT JOIN :AMPLITUDE_SCHEMA.merged_ids m ON m.project = u.project AND m.merged_amplitude_id = u.amplitude_id;

-- Distinct people per project and day: daily_users with each merged id counted as the id it merged into.
CREATE VIEW :AMPLITUDE_SCHEMA.daily_active_people AS
SELECT d.project, d.day, count(DISTINCT coalesce(m.amplitude_id, d.amplitude_id)) AS active_people
  FROM :AMPLITUDE_SCHEMA.daily_users d
  LEFT JOIN :AMPLITUDE_SCHEMA.merged_ids m ON m.project = d.project AND m.merged_amplitude_id = d.amplitude_id
 GROUP BY d.project, d.day;

-- Per project and UTC day, what the reference dashboards start from, read from the rollups (exact at
-- every commit, as they are): events, distinct users and people, users first seen that day, sessions
-- started that day and their average length, events outside sessions.
CREATE VIEW :AMPLITUDE_SCHEMA.daily_metrics AS
WITH days AS (
  SELECT project, day, sum(events)::bigint AS events FROM :AMPLITUDE_SCHEMA.event_counts GROUP BY project, day),
outside AS (
  SELECT project, day, sum(sessionless_events)::bigint AS sessionless_events FROM :AMPLITUDE_SCHEMA.daily_users GROUP BY project, day),
started AS (
  -- The average in seconds, back to an interval as whole days and the seconds left (exact to the
  -- microsecond), which holds any average of lengths PostgreSQL's calendar allows.
  SELECT project, day, sessions,
         make_interval(days => div(total_seconds / sessions, 86400)::integer, secs => mod(total_seconds / sessions, 86400)::double precision)
           AS average_session_length
    FROM :LOADER_SCHEMA.daily_sessions),
firsts AS (
  SELECT project, (first_seen AT TIME ZONE 'UTC')::date AS day, count(*) AS new_users FROM :AMPLITUDE_SCHEMA.users GROUP BY 1, 2)
SELECT d.project, d.day, d.events, coalesce(a.active_users, 0) AS active_users, coalesce(f.new_users, 0) AS new_users,
       coalesce(s.sessions, 0) AS sessions, s.average_session_length, coalesce(o.sessionless_events, 0) AS sessionless_events,
       coalesce(p.active_people, 0) AS active_people
  FROM days d
  LEFT JOIN :AMPLITUDE_SCHEMA.daily_active_users a USING (project, day)
  LEFT JOIN firsts f USING (project, day)
  LEFT JOIN started s USING (project, day)
  LEFT JOIN outside o USING (project, day)
  LEFT JOIN :AMPLITUDE_SCHEMA.daily_active_people p USING (project, day);

SELECT :LOADER_SCHEMA.grant_reader(format('%I.%I', :'AMPLITUDE_SCHEMA_NAME', view_name)::regclass)
  FROM unnest(ARRAY['merged_ids', 'daily_active_people', 'daily_metrics']) AS v(view_name);
