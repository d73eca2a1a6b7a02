-- Two rooms, and several Amplitude projects in one warehouse.
--
-- The analysts' schema keeps events, the views, the rollups (0009) and a coverage view; everything the
-- loader keeps for itself moves to a schema of its own, `<schema>_loader`, which amplitude_reader
-- cannot enter. (migrate.ts has already moved the migration bookkeeping there, before this file ran.)
--
-- A project is the name of one Amplitude project (--project, default `default`). Every row and every
-- piece of state says which project it belongs to; each project has its own dedup keys and its own
-- dedup lock, so projects never contest each other's events, even when they share uuids.

CREATE SCHEMA IF NOT EXISTS :LOADER_SCHEMA;

ALTER TABLE :AMPLITUDE_SCHEMA.upload_hours SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :AMPLITUDE_SCHEMA.hour_claims SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :AMPLITUDE_SCHEMA.rejects SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :AMPLITUDE_SCHEMA.duplicates SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :AMPLITUDE_SCHEMA.recent_merges SET SCHEMA :LOADER_SCHEMA;
ALTER SEQUENCE :AMPLITUDE_SCHEMA.hour_merge_seq SET SCHEMA :LOADER_SCHEMA;
ALTER FUNCTION :AMPLITUDE_SCHEMA.insert_group(bigint, text, text, text) SET SCHEMA :LOADER_SCHEMA;
DROP TABLE :AMPLITUDE_SCHEMA.dedup_lock;

-- The projects this warehouse holds. A project's row is also its dedup lock (FOR UPDATE), and its
-- keys live in a table of their own, event_keys_<project_id>, created when the project first loads.
CREATE TABLE :LOADER_SCHEMA.projects (
  project_id integer PRIMARY KEY,
  project text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO :LOADER_SCHEMA.projects (project_id, project) VALUES (1, 'default');
ALTER TABLE :AMPLITUDE_SCHEMA.event_keys SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.event_keys RENAME TO event_keys_1;
ALTER INDEX :LOADER_SCHEMA.event_keys_uuid_idx RENAME TO event_keys_1_uuid_idx;
ALTER INDEX :LOADER_SCHEMA.event_keys_group_idx RENAME TO event_keys_1_group_idx;

-- Rows loaded so far belong to the project `default` (a constant default: no table is rewritten).
ALTER TABLE :AMPLITUDE_SCHEMA.events ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :AMPLITUDE_SCHEMA.events ALTER COLUMN project DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.duplicates ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :LOADER_SCHEMA.duplicates ALTER COLUMN project DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.rejects ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :LOADER_SCHEMA.rejects ALTER COLUMN project DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.upload_hours ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :LOADER_SCHEMA.upload_hours ALTER COLUMN project DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.hour_claims ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :LOADER_SCHEMA.hour_claims ALTER COLUMN project DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.recent_merges ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE :LOADER_SCHEMA.recent_merges ALTER COLUMN project DROP DEFAULT;

ALTER TABLE :LOADER_SCHEMA.upload_hours DROP CONSTRAINT upload_hours_pkey, ADD PRIMARY KEY (project, upload_hour);
ALTER TABLE :LOADER_SCHEMA.hour_claims DROP CONSTRAINT hour_claims_pkey, ADD PRIMARY KEY (project, upload_hour);
-- The project last: an index that led with it would tempt the planner, when statistics are missing,
-- to combine it with the uuid index and read a project's every dropped copy for each uuid it looks up.
-- duplicates' key ends with the uuid too, which Citus requires of a table distributed by it.
ALTER TABLE :LOADER_SCHEMA.rejects DROP CONSTRAINT rejects_pkey, ADD PRIMARY KEY (upload_hour, archive_entry, line_number, project);
ALTER TABLE :LOADER_SCHEMA.duplicates DROP CONSTRAINT duplicates_pkey, ADD PRIMARY KEY (upload_hour, archive_entry, archive_line, project, uuid);
DROP INDEX :LOADER_SCHEMA.recent_merges_merge_seq_idx;
CREATE INDEX recent_merges_project_merge_seq_idx ON :LOADER_SCHEMA.recent_merges (project, merge_seq);

-- When each row was loaded: the commit of its hour's transaction (now() is the transaction's start).
-- Rows loaded earlier take their hour's finish.
ALTER TABLE :AMPLITUDE_SCHEMA.events ADD COLUMN loaded_at timestamptz;
UPDATE :AMPLITUDE_SCHEMA.events e SET loaded_at = h.finished_at
  FROM :LOADER_SCHEMA.upload_hours h WHERE h.project = e.project AND h.upload_hour = e.upload_hour;
UPDATE :AMPLITUDE_SCHEMA.events SET loaded_at = now() WHERE loaded_at IS NULL;
ALTER TABLE :AMPLITUDE_SCHEMA.events ALTER COLUMN loaded_at SET DEFAULT now(), ALTER COLUMN loaded_at SET NOT NULL;
ALTER TABLE :LOADER_SCHEMA.duplicates ADD COLUMN loaded_at timestamptz;
UPDATE :LOADER_SCHEMA.duplicates d SET loaded_at = coalesce(h.finished_at, now())
  FROM :LOADER_SCHEMA.upload_hours h WHERE h.project = d.project AND h.upload_hour = d.upload_hour;
ALTER TABLE :LOADER_SCHEMA.duplicates ALTER COLUMN loaded_at SET DEFAULT now(), ALTER COLUMN loaded_at SET NOT NULL;

-- Sessions per project.
DROP VIEW :AMPLITUDE_SCHEMA.sessions;
CREATE VIEW :AMPLITUDE_SCHEMA.sessions AS
SELECT
  project,
  app,
  device_id,
  session_id,
  (array_agg(user_id ORDER BY event_time DESC, uuid DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
  max(amplitude_id) AS amplitude_id,
  min(event_time) AS session_start,
  max(event_time) AS session_end,
  max(event_time) - min(event_time) AS duration,
  count(*) AS event_count,
  (array_agg(event_type ORDER BY event_time, uuid))[1] AS first_event_type,
  (array_agg(event_type ORDER BY event_time DESC, uuid DESC))[1] AS last_event_type
FROM :AMPLITUDE_SCHEMA.events
WHERE session_id IS NOT NULL AND session_id <> -1
GROUP BY project, app, device_id, session_id;

-- What is loaded, per project: the span of upload hours, the gaps in it, and how fresh the newest is.
CREATE VIEW :AMPLITUDE_SCHEMA.coverage AS
SELECT
  project,
  min(upload_hour) FILTER (WHERE status <> 'failed') AS first_hour,
  max(upload_hour) FILTER (WHERE status <> 'failed') AS last_hour,
  count(*) FILTER (WHERE status <> 'failed') AS hours_loaded,
  count(*) FILTER (WHERE status = 'empty') AS hours_empty,
  (extract(epoch FROM max(upload_hour) FILTER (WHERE status <> 'failed') - min(upload_hour) FILTER (WHERE status <> 'failed')) / 3600)::bigint + 1
    - count(*) FILTER (WHERE status <> 'failed') AS hours_missing,
  count(*) FILTER (WHERE status = 'failed') AS hours_failed,
  coalesce(sum(rows_inserted) FILTER (WHERE status <> 'failed'), 0) AS rows_inserted,
  max(finished_at) FILTER (WHERE status <> 'failed') AS last_loaded_at,
  now() - (max(upload_hour) FILTER (WHERE status <> 'failed') + interval '1 hour') AS freshness
FROM :LOADER_SCHEMA.upload_hours
GROUP BY project;
