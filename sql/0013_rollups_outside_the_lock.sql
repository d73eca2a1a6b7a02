-- The rollups, kept outside the dedup lock.
--
-- Until now each hour applied what it changed to the rollup tables while holding its project's dedup
-- lock, so every hour of a project upserted them one after another. Now an hour only appends signed
-- changes to *_pending tables (its own rows before the lock; the rows its deduplication moves, in the
-- very statements that move them), which never contend; after it commits, a fold (one at a time per
-- project, whoever comes next; nobody waits for it) applies pending changes to the *_folded tables
-- and deletes them. What analysts read, under the old names, are views of folded + pending: exact at
-- every commit, whether or not a fold has run.

-- Folded: the tables as they were, in the loader's schema, unique on a SHA-256 of their text keys
-- (text_key: a key of any length fits a btree entry; the row keeps the full text).
ALTER TABLE :AMPLITUDE_SCHEMA.event_counts SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.event_counts RENAME TO event_counts_folded;
ALTER TABLE :LOADER_SCHEMA.event_counts_folded
  DROP CONSTRAINT event_counts_project_day_event_type_key,
  ADD COLUMN event_type_key bytea GENERATED ALWAYS AS (:LOADER_SCHEMA.text_key(event_type)) STORED;
CREATE UNIQUE INDEX event_counts_folded_key ON :LOADER_SCHEMA.event_counts_folded (project, day, event_type_key);

ALTER TABLE :AMPLITUDE_SCHEMA.daily_users SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.daily_users RENAME TO daily_users_folded;
ALTER TABLE :LOADER_SCHEMA.daily_users_folded
  DROP CONSTRAINT daily_users_project_day_amplitude_id_platform_key,
  ADD COLUMN platform_key bytea GENERATED ALWAYS AS (:LOADER_SCHEMA.text_key(platform)) STORED;
CREATE UNIQUE INDEX daily_users_folded_key ON :LOADER_SCHEMA.daily_users_folded (project, day, amplitude_id, platform_key);

ALTER TABLE :AMPLITUDE_SCHEMA.daily_active_users SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.daily_active_users RENAME TO daily_active_users_folded;

ALTER TABLE :AMPLITUDE_SCHEMA.daily_active_users_by_platform SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.daily_active_users_by_platform RENAME TO daily_active_users_by_platform_folded;
ALTER TABLE :LOADER_SCHEMA.daily_active_users_by_platform_folded
  DROP CONSTRAINT daily_active_users_by_platform_project_day_platform_key,
  ADD COLUMN platform_key bytea GENERATED ALWAYS AS (:LOADER_SCHEMA.text_key(platform)) STORED;
CREATE UNIQUE INDEX daily_active_users_by_platform_folded_key ON :LOADER_SCHEMA.daily_active_users_by_platform_folded (project, day, platform_key);

ALTER TABLE :AMPLITUDE_SCHEMA.users SET SCHEMA :LOADER_SCHEMA;
ALTER TABLE :LOADER_SCHEMA.users RENAME TO users_folded;

-- Pending: appended by hours, deleted by the fold that applies them. No index: a fold takes them all.
-- No key column: what reads them hashes the few rows pending as it reads them.
CREATE TABLE :LOADER_SCHEMA.event_counts_pending (
  project text NOT NULL,
  day date NOT NULL,
  event_type text,
  events bigint NOT NULL
);
CREATE TABLE :LOADER_SCHEMA.daily_users_pending (
  project text NOT NULL,
  day date NOT NULL,
  amplitude_id bigint NOT NULL,
  platform text,
  events bigint NOT NULL
);
-- A user's newest row among those an hour added (complete false), or, from an hour that took a row of
-- theirs away, their whole state as events then had it (complete true; no times when no event is
-- left). Each row says which hour (transaction) appended it; users_pending_hours says in which order
-- those hours held the dedup lock, which is the order they committed in: a complete state replaces the
-- folded row and every change of an hour before it, and nothing is ever deleted under the lock.
CREATE TABLE :LOADER_SCHEMA.users_pending (
  project text NOT NULL,
  amplitude_id bigint NOT NULL,
  first_seen timestamptz,
  last_seen timestamptz,
  last_event_uuid uuid,
  user_id text,
  user_properties jsonb,
  complete boolean NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE TABLE :LOADER_SCHEMA.users_pending_hours (
  xid xid8 PRIMARY KEY,
  project text NOT NULL,
  merge_seq bigint NOT NULL
);

-- What analysts read: folded rows no pending change touches, and the touched ones with their changes.
CREATE VIEW :AMPLITUDE_SCHEMA.event_counts AS
SELECT f.project, f.day, f.event_type, f.events
  FROM :LOADER_SCHEMA.event_counts_folded f
 WHERE NOT EXISTS (SELECT FROM :LOADER_SCHEMA.event_counts_pending p
                    WHERE p.project = f.project AND p.day = f.day AND :LOADER_SCHEMA.text_key(p.event_type) = f.event_type_key)
UNION ALL
SELECT p.project, p.day, p.event_type, (p.events + coalesce(f.events, 0))::bigint
  FROM (SELECT project, day, :LOADER_SCHEMA.text_key(event_type) AS event_type_key, min(event_type) AS event_type, sum(events) AS events
          FROM :LOADER_SCHEMA.event_counts_pending GROUP BY project, day, 3) p
  LEFT JOIN :LOADER_SCHEMA.event_counts_folded f ON f.project = p.project AND f.day = p.day AND f.event_type_key = p.event_type_key
 WHERE p.events + coalesce(f.events, 0) <> 0;

CREATE VIEW :AMPLITUDE_SCHEMA.daily_users AS
SELECT f.project, f.day, f.amplitude_id, f.platform, f.events
  FROM :LOADER_SCHEMA.daily_users_folded f
 WHERE NOT EXISTS (SELECT FROM :LOADER_SCHEMA.daily_users_pending p
                    WHERE p.project = f.project AND p.day = f.day AND p.amplitude_id = f.amplitude_id AND :LOADER_SCHEMA.text_key(p.platform) = f.platform_key)
UNION ALL
SELECT p.project, p.day, p.amplitude_id, p.platform, (p.events + coalesce(f.events, 0))::bigint
  FROM (SELECT project, day, amplitude_id, :LOADER_SCHEMA.text_key(platform) AS platform_key, min(platform) AS platform, sum(events) AS events
          FROM :LOADER_SCHEMA.daily_users_pending GROUP BY project, day, amplitude_id, 4) p
  LEFT JOIN :LOADER_SCHEMA.daily_users_folded f
    ON f.project = p.project AND f.day = p.day AND f.amplitude_id = p.amplitude_id AND f.platform_key = p.platform_key
 WHERE p.events + coalesce(f.events, 0) <> 0;

-- A user counts on a day when any of their platform rows is there. Pending changes touch some of a
-- user's platform rows of a day: the user is active after them when a touched row stays above zero or
-- a folded row is left untouched, and was active before when any folded row was there. Each touched
-- user-day costs one descent of the folded table's key.
CREATE VIEW :AMPLITUDE_SCHEMA.daily_active_users AS
SELECT project, day, sum(active_users)::bigint AS active_users
  FROM (SELECT project, day, active_users FROM :LOADER_SCHEMA.daily_active_users_folded
        UNION ALL
        SELECT project, day, (touched_after OR folded_rows > touched_folded)::int - (folded_rows > 0)::int
          FROM (SELECT k.project, k.day, k.amplitude_id, bool_or(k.after_events > 0) AS touched_after,
                       count(*) FILTER (WHERE k.folded) AS touched_folded,
                       (SELECT count(*) FROM :LOADER_SCHEMA.daily_users_folded f
                         WHERE f.project = k.project AND f.day = k.day AND f.amplitude_id = k.amplitude_id) AS folded_rows
                  FROM (SELECT p.project, p.day, p.amplitude_id, coalesce(f.events, 0) + p.events AS after_events, f.events IS NOT NULL AS folded
                          FROM (SELECT project, day, amplitude_id, :LOADER_SCHEMA.text_key(platform) AS platform_key, sum(events) AS events
                                  FROM :LOADER_SCHEMA.daily_users_pending GROUP BY project, day, amplitude_id, 4) p
                          LEFT JOIN :LOADER_SCHEMA.daily_users_folded f
                            ON f.project = p.project AND f.day = p.day AND f.amplitude_id = p.amplitude_id AND f.platform_key = p.platform_key) k
                 GROUP BY k.project, k.day, k.amplitude_id) u) d
 GROUP BY project, day
HAVING sum(active_users) <> 0;

CREATE VIEW :AMPLITUDE_SCHEMA.daily_active_users_by_platform AS
SELECT project, day, min(platform) AS platform, sum(active_users)::bigint AS active_users
  FROM (SELECT project, day, platform_key, platform, active_users FROM :LOADER_SCHEMA.daily_active_users_by_platform_folded
        UNION ALL
        SELECT p.project, p.day, p.platform_key, p.platform, ((coalesce(f.events, 0) + p.events) > 0)::int - (f.events IS NOT NULL)::int
          FROM (SELECT project, day, amplitude_id, :LOADER_SCHEMA.text_key(platform) AS platform_key, min(platform) AS platform, sum(events) AS events
                  FROM :LOADER_SCHEMA.daily_users_pending GROUP BY project, day, amplitude_id, 4) p
          LEFT JOIN :LOADER_SCHEMA.daily_users_folded f
            ON f.project = p.project AND f.day = p.day AND f.amplitude_id = p.amplitude_id AND f.platform_key = p.platform_key) d
 GROUP BY project, day, platform_key
HAVING sum(active_users) <> 0;

-- Users nothing pending touches, as folded; the others merged from their pending rows since their
-- last complete state (that state included) or, without one, from all of them and their folded row:
-- the first first_seen, and the newest row by time then uuid, which carries user_id and
-- user_properties. Reads no events, so it is the same on Citus.
CREATE VIEW :AMPLITUDE_SCHEMA.users AS
WITH pending AS (
  SELECT p.project, p.amplitude_id, p.first_seen, p.last_seen, p.last_event_uuid, p.user_id, p.user_properties, p.complete, h.merge_seq
    FROM :LOADER_SCHEMA.users_pending p JOIN :LOADER_SCHEMA.users_pending_hours h ON h.xid = p.xid),
since AS (
  SELECT project, amplitude_id, max(merge_seq) FILTER (WHERE complete) AS merge_seq FROM pending GROUP BY project, amplitude_id)
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
  ORDER BY c.project, c.amplitude_id, c.last_seen DESC, c.last_event_uuid DESC);

SELECT :LOADER_SCHEMA.grant_reader(format('%I.%I', :'AMPLITUDE_SCHEMA_NAME', view_name)::regclass)
  FROM unnest(ARRAY['event_counts', 'daily_users', 'daily_active_users', 'daily_active_users_by_platform', 'users']) AS v(view_name);
-- The tables moved out kept their grants; the loader's schema is closed to the reader anyway.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader') THEN
    EXECUTE format('REVOKE ALL ON %1$I.event_counts_folded, %1$I.daily_users_folded, %1$I.daily_active_users_folded, '
                   '%1$I.daily_active_users_by_platform_folded, %1$I.users_folded FROM amplitude_reader', :'LOADER_SCHEMA_NAME');
  END IF;
END
$$;
