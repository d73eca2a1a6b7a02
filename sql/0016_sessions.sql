-- Sessions as a rollup, kept like the others (0013): hours append changes to a pending table, the fold
-- applies them, and analysts read a view of folded + pending, exact at every commit. Until now
-- amplitude.sessions grouped all of events on every query.
--
-- A session is Amplitude's: the events of one user (amplitude_id) sharing a session_id; -1 (or no
-- session_id) means no session and makes none: such events are counted per user and day, in
-- daily_users.sessionless_events. An event without an amplitude_id belongs to no user and no session.
--
-- Where the session's first event (by time, then uuid) is told: its time, uuid and type, and the app,
-- device, platform and country of the session; from its last: time, uuid, type and user_id. A first or
-- last event taken away cannot be subtracted, so an hour that takes a row of a session away appends the
-- session's whole state as events then have it (complete), which replaces the folded row and every
-- change of an hour before it, as users_pending does; users_pending_hours orders the hours of both.

CREATE TABLE :LOADER_SCHEMA.sessions_folded (
  project text NOT NULL,
  amplitude_id bigint NOT NULL,
  session_id bigint NOT NULL,
  session_start timestamptz NOT NULL,
  first_event_uuid uuid NOT NULL,
  first_event_type text,
  app bigint,
  device_id text,
  platform text,
  country text,
  session_end timestamptz NOT NULL,
  last_event_uuid uuid NOT NULL,
  last_event_type text,
  user_id text,
  events bigint NOT NULL,
  PRIMARY KEY (project, amplitude_id, session_id)
);

-- Appended by hours (one row per session an hour added events to, or complete states), taken by the
-- fold. No times and no events in a complete state: the session has no event left.
CREATE TABLE :LOADER_SCHEMA.sessions_pending (
  project text NOT NULL,
  amplitude_id bigint NOT NULL,
  session_id bigint NOT NULL,
  session_start timestamptz,
  first_event_uuid uuid,
  first_event_type text,
  app bigint,
  device_id text,
  platform text,
  country text,
  session_end timestamptz,
  last_event_uuid uuid,
  last_event_type text,
  user_id text,
  events bigint NOT NULL,
  complete boolean NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

-- The sessions of what is loaded already.
INSERT INTO :LOADER_SCHEMA.sessions_folded
SELECT f.project, f.amplitude_id, f.session_id, f.event_time, f.uuid, f.event_type, f.app, f.device_id, f.platform, f.country,
       l.event_time, l.uuid, l.event_type, l.user_id, l.events
  FROM (SELECT DISTINCT ON (project, amplitude_id, session_id) project, amplitude_id, session_id, event_time, uuid, event_type, app, device_id, platform, country
          FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL AND session_id <> -1
         ORDER BY project, amplitude_id, session_id, event_time, uuid) f
  JOIN (SELECT DISTINCT ON (project, amplitude_id, session_id) project, amplitude_id, session_id, event_time, uuid, event_type, user_id,
               count(*) OVER (PARTITION BY project, amplitude_id, session_id) AS events
          FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL AND session_id <> -1
         ORDER BY project, amplitude_id, session_id, event_time DESC, uuid DESC) l USING (project, amplitude_id, session_id);

-- Events outside sessions, per user, day and platform. What is pending cannot be told apart, so the
-- daily_users rollups are recomputed from events (the loader is stopped while it migrates).
ALTER TABLE :LOADER_SCHEMA.daily_users_folded ADD COLUMN sessionless_events bigint NOT NULL DEFAULT 0;
ALTER TABLE :LOADER_SCHEMA.daily_users_pending ADD COLUMN sessionless_events bigint NOT NULL DEFAULT 0;
DELETE FROM :LOADER_SCHEMA.daily_users_pending;
TRUNCATE :LOADER_SCHEMA.daily_users_folded, :LOADER_SCHEMA.daily_active_users_folded, :LOADER_SCHEMA.daily_active_users_by_platform_folded;
INSERT INTO :LOADER_SCHEMA.daily_users_folded (project, day, amplitude_id, platform, events, sessionless_events)
SELECT project, (event_time AT TIME ZONE 'UTC')::date, amplitude_id, platform, count(*), count(*) FILTER (WHERE session_id IS NULL OR session_id = -1)
  FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO :LOADER_SCHEMA.daily_active_users_folded (project, day, active_users)
SELECT project, day, count(DISTINCT amplitude_id) FROM :LOADER_SCHEMA.daily_users_folded GROUP BY 1, 2;
INSERT INTO :LOADER_SCHEMA.daily_active_users_by_platform_folded (project, day, platform, active_users)
SELECT project, day, min(platform), count(*) FROM :LOADER_SCHEMA.daily_users_folded GROUP BY project, day, platform_key;

CREATE OR REPLACE VIEW :AMPLITUDE_SCHEMA.daily_users AS
SELECT f.project, f.day, f.amplitude_id, f.platform, f.events, f.sessionless_events
  FROM :LOADER_SCHEMA.daily_users_folded f
 WHERE NOT EXISTS (SELECT FROM :LOADER_SCHEMA.daily_users_pending p
                    WHERE p.project = f.project AND p.day = f.day AND p.amplitude_id = f.amplitude_id AND :LOADER_SCHEMA.text_key(p.platform) = f.platform_key)
UNION ALL
SELECT p.project, p.day, p.amplitude_id, p.platform, (p.events + coalesce(f.events, 0))::bigint, (p.sessionless_events + coalesce(f.sessionless_events, 0))::bigint
  FROM (SELECT project, day, amplitude_id, :LOADER_SCHEMA.text_key(platform) AS platform_key, min(platform) AS platform, sum(events) AS events,
               sum(sessionless_events) AS sessionless_events
          FROM :LOADER_SCHEMA.daily_users_pending GROUP BY project, day, amplitude_id, 4) p
  LEFT JOIN :LOADER_SCHEMA.daily_users_folded f
    ON f.project = p.project AND f.day = p.day AND f.amplitude_id = p.amplitude_id AND f.platform_key = p.platform_key
 WHERE p.events + coalesce(f.events, 0) <> 0;

-- The sessions pending changes touch, merged from their pending rows since their last complete state
-- (that state included) or, without one, from all of them and their folded row: the earliest first
-- event, the latest last event, the events summed. A session with no event left is not in it.
-- Internal: the sessions view and daily_sessions read it.
CREATE VIEW :LOADER_SCHEMA.sessions_touched AS
WITH pending AS (
  SELECT p.*, h.merge_seq FROM :LOADER_SCHEMA.sessions_pending p JOIN :LOADER_SCHEMA.users_pending_hours h ON h.xid = p.xid),
since AS (
  SELECT project, amplitude_id, session_id, max(merge_seq) FILTER (WHERE complete) AS merge_seq FROM pending GROUP BY project, amplitude_id, session_id)
SELECT c.project, c.amplitude_id, c.session_id,
       (array_agg(c.app ORDER BY c.session_start, c.first_event_uuid))[1] AS app,
       (array_agg(c.device_id ORDER BY c.session_start, c.first_event_uuid))[1] AS device_id,
       (array_agg(c.user_id ORDER BY c.session_end DESC, c.last_event_uuid DESC))[1] AS user_id,
       (array_agg(c.platform ORDER BY c.session_start, c.first_event_uuid))[1] AS platform,
       (array_agg(c.country ORDER BY c.session_start, c.first_event_uuid))[1] AS country,
       min(c.session_start) AS session_start, max(c.session_end) AS session_end, sum(c.events)::bigint AS events,
       (array_agg(c.first_event_type ORDER BY c.session_start, c.first_event_uuid))[1] AS first_event_type,
       (array_agg(c.last_event_type ORDER BY c.session_end DESC, c.last_event_uuid DESC))[1] AS last_event_type
  FROM (SELECT p.project, p.amplitude_id, p.session_id, p.session_start, p.first_event_uuid, p.first_event_type, p.app, p.device_id, p.platform,
               p.country, p.session_end, p.last_event_uuid, p.last_event_type, p.user_id, p.events
          FROM pending p JOIN since s USING (project, amplitude_id, session_id)
         WHERE s.merge_seq IS NULL OR p.merge_seq > s.merge_seq OR (p.complete AND p.merge_seq = s.merge_seq)
        UNION ALL
        SELECT f.project, f.amplitude_id, f.session_id, f.session_start, f.first_event_uuid, f.first_event_type, f.app, f.device_id, f.platform,
               f.country, f.session_end, f.last_event_uuid, f.last_event_type, f.user_id, f.events
          FROM :LOADER_SCHEMA.sessions_folded f JOIN since s USING (project, amplitude_id, session_id)
         WHERE s.merge_seq IS NULL) c
 WHERE c.session_start IS NOT NULL
 GROUP BY c.project, c.amplitude_id, c.session_id;

-- Sessions nothing pending touches, as folded, and the touched ones merged. session_number counts the
-- user's sessions by start (then session_id), from 1; a query that does not ask for it does not compute
-- it, and one that asks for some users computes it for those users only.
DROP VIEW :AMPLITUDE_SCHEMA.sessions;
CREATE VIEW :AMPLITUDE_SCHEMA.sessions AS
WITH states AS (
  SELECT f.project, f.amplitude_id, f.session_id, f.app, f.device_id, f.user_id, f.platform, f.country, f.session_start, f.session_end,
         f.events, f.first_event_type, f.last_event_type
    FROM :LOADER_SCHEMA.sessions_folded f
   WHERE NOT EXISTS (SELECT FROM :LOADER_SCHEMA.sessions_pending p
                      WHERE p.project = f.project AND p.amplitude_id = f.amplitude_id AND p.session_id = f.session_id)
  UNION ALL
  SELECT project, amplitude_id, session_id, app, device_id, user_id, platform, country, session_start, session_end,
         events, first_event_type, last_event_type
    FROM :LOADER_SCHEMA.sessions_touched)
SELECT project, amplitude_id, session_id, app, device_id, user_id, platform, country, session_start, session_end,
       session_end - session_start AS duration, events AS event_count, first_event_type, last_event_type,
       row_number() OVER (PARTITION BY project, amplitude_id ORDER BY session_start, session_id) AS session_number
  FROM states;

-- Sessions started per project and UTC day, and their summed length, kept by the fold from the days the
-- sessions it changes start on, before and after; the view adds what pending changes do to the sessions
-- they touch. What daily_metrics reads: a row per day, whatever the number of sessions. The length is
-- summed in seconds as numeric: an interval keeps its days in 32 bits, which a few hundred sessions
-- spanning the calendar would overflow (and the fold, failing, would never apply them).
CREATE TABLE :LOADER_SCHEMA.daily_sessions_folded (
  project text NOT NULL,
  day date NOT NULL,
  sessions bigint NOT NULL,
  total_seconds numeric NOT NULL,
  PRIMARY KEY (project, day)
);
INSERT INTO :LOADER_SCHEMA.daily_sessions_folded
SELECT project, (session_start AT TIME ZONE 'UTC')::date, count(*), sum(extract(epoch FROM session_end - session_start))
  FROM :LOADER_SCHEMA.sessions_folded GROUP BY 1, 2;

CREATE VIEW :LOADER_SCHEMA.daily_sessions AS
SELECT project, day, sum(sessions)::bigint AS sessions, sum(total_seconds) AS total_seconds
  FROM (SELECT project, day, sessions, total_seconds FROM :LOADER_SCHEMA.daily_sessions_folded
        UNION ALL
        SELECT project, (session_start AT TIME ZONE 'UTC')::date, 1, extract(epoch FROM session_end - session_start) FROM :LOADER_SCHEMA.sessions_touched
        UNION ALL
        SELECT f.project, (f.session_start AT TIME ZONE 'UTC')::date, -1, -extract(epoch FROM f.session_end - f.session_start)
          FROM (SELECT DISTINCT project, amplitude_id, session_id FROM :LOADER_SCHEMA.sessions_pending) k
          JOIN :LOADER_SCHEMA.sessions_folded f USING (project, amplitude_id, session_id)) d
 GROUP BY project, day
HAVING sum(sessions) <> 0;

SELECT :LOADER_SCHEMA.grant_reader(format('%I.sessions', :'AMPLITUDE_SCHEMA_NAME')::regclass);
