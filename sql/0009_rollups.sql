-- Rollups the loader keeps in the same transaction as each hour (load/rollups.ts), so they are never
-- stale and never half-applied: what an hour adds, and what deduplication or a reload moves out of or
-- back into events, is applied to them before the hour commits. A user is an amplitude_id (Amplitude
-- assigns one to every event it ingests); a day is a UTC day of event_time.

DROP VIEW :AMPLITUDE_SCHEMA.daily_active_users;
DROP VIEW :AMPLITUDE_SCHEMA.event_counts;

CREATE TABLE :AMPLITUDE_SCHEMA.event_counts (
  project text NOT NULL,
  day date NOT NULL,
  event_type text,
  events bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (project, day, event_type)
);

-- One row per user, day and platform they were active on: what the DAU tables are counted from, and
-- a small table to compute retention and frequency from.
CREATE TABLE :AMPLITUDE_SCHEMA.daily_users (
  project text NOT NULL,
  day date NOT NULL,
  amplitude_id bigint NOT NULL,
  platform text,
  events bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (project, day, amplitude_id, platform)
);

CREATE TABLE :AMPLITUDE_SCHEMA.daily_active_users (
  project text NOT NULL,
  day date NOT NULL,
  active_users bigint NOT NULL,
  PRIMARY KEY (project, day)
);

CREATE TABLE :AMPLITUDE_SCHEMA.daily_active_users_by_platform (
  project text NOT NULL,
  day date NOT NULL,
  platform text,
  active_users bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (project, day, platform)
);

CREATE TABLE :AMPLITUDE_SCHEMA.users (
  project text NOT NULL,
  amplitude_id bigint NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  last_event_uuid uuid NOT NULL,
  user_id text,
  user_properties jsonb,
  PRIMARY KEY (project, amplitude_id)
);

-- One user's events in time order: the users rollup recomputes a user from it when deduplication or
-- a reload takes one of their rows away (two descents, whatever the user's history), and analysts read
-- a user's timeline through it. event_type rides along, so "this user's next X after T" (a funnel's
-- step) reads index entries rather than rows: without it the planner walks each user's timeline row by
-- row (2.2 s for sql/examples/funnel.sql at 1M events, against 0.3 s; BENCHMARKS.md).
CREATE INDEX events_amplitude_id_idx ON :AMPLITUDE_SCHEMA.events (amplitude_id, event_time) INCLUDE (event_type);

-- What is loaded already.
INSERT INTO :AMPLITUDE_SCHEMA.event_counts
SELECT project, (event_time AT TIME ZONE 'UTC')::date, event_type, count(*) FROM :AMPLITUDE_SCHEMA.events GROUP BY 1, 2, 3;
INSERT INTO :AMPLITUDE_SCHEMA.daily_users
SELECT project, (event_time AT TIME ZONE 'UTC')::date, amplitude_id, platform, count(*)
  FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO :AMPLITUDE_SCHEMA.daily_active_users
SELECT project, day, count(DISTINCT amplitude_id) FROM :AMPLITUDE_SCHEMA.daily_users GROUP BY 1, 2;
INSERT INTO :AMPLITUDE_SCHEMA.daily_active_users_by_platform
SELECT project, day, platform, count(*) FROM :AMPLITUDE_SCHEMA.daily_users GROUP BY 1, 2, 3;
INSERT INTO :AMPLITUDE_SCHEMA.users
SELECT DISTINCT ON (project, amplitude_id) project, amplitude_id,
       min(event_time) OVER (PARTITION BY project, amplitude_id), event_time, uuid, user_id, user_properties
  FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL
 ORDER BY project, amplitude_id, event_time DESC, uuid DESC;

-- amplitude_reader reads exactly the analysts' objects: nothing in the loader's schema, and new
-- partitions of events as the loader creates them (partitions.ts grants each).
DO $$
DECLARE
  schema_name text := :'AMPLITUDE_SCHEMA_NAME';
  partition regclass;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader') THEN
    RETURN;
  END IF;
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM amplitude_reader', schema_name);
  -- The tables 0008 moved out kept their grants; the schema is closed to the reader anyway.
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM amplitude_reader', :'LOADER_SCHEMA_NAME');
  EXECUTE format(
    'GRANT SELECT ON %1$I.events, %1$I.sessions, %1$I.coverage, %1$I.event_counts, %1$I.daily_users, %1$I.daily_active_users, '
    '%1$I.daily_active_users_by_platform, %1$I.users TO amplitude_reader',
    schema_name);
  FOR partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = format('%I.events', schema_name)::regclass LOOP
    EXECUTE format('GRANT SELECT ON %s TO amplitude_reader', partition);
  END LOOP;
END
$$;
