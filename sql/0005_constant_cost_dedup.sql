-- Dedup whose cost per hour does not grow with the warehouse (README "How deduplication works").
-- Replaces event_copies, a row for every copy ever read, by what later decisions need: each row's
-- provenance, one narrow key per event, and indexes an hour probes near its own keys.

-- Provenance: the upload hour a row came from, and the entry (position in upload_hours.entry_names)
-- and line it was read from. Rows go straight into their partition by COPY; these say which rows an
-- hour wrote, and order copies uploaded at the same instant in the same hour.
ALTER TABLE :AMPLITUDE_SCHEMA.upload_hours ADD COLUMN entry_names text[];
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.upload_hours.entry_names IS
  'The archive entries of the hour in the order they were read; events.archive_entry is a position in this array.';

ALTER TABLE :AMPLITUDE_SCHEMA.events
  ADD COLUMN upload_hour timestamptz,
  ADD COLUMN archive_entry integer,
  ADD COLUMN archive_line integer;

-- Hours loaded before this migration: their entries in name order, their rows' provenance from the
-- copy that was kept.
UPDATE :AMPLITUDE_SCHEMA.upload_hours h SET entry_names = names.entry_names
  FROM (SELECT upload_hour, array_agg(DISTINCT entry_name ORDER BY entry_name) AS entry_names
          FROM (SELECT upload_hour, entry_name FROM :AMPLITUDE_SCHEMA.event_copies
                UNION ALL SELECT upload_hour, entry_name FROM :AMPLITUDE_SCHEMA.rejects) entries
         GROUP BY upload_hour) names
 WHERE names.upload_hour = h.upload_hour;
UPDATE :AMPLITUDE_SCHEMA.events e
   SET upload_hour = c.upload_hour, archive_entry = array_position(h.entry_names, c.entry_name), archive_line = c.line_number
  FROM :AMPLITUDE_SCHEMA.event_copies c JOIN :AMPLITUDE_SCHEMA.upload_hours h USING (upload_hour)
 WHERE c.status = 'kept' AND c.uuid = e.uuid AND c.event_time = e.event_time;

ALTER TABLE :AMPLITUDE_SCHEMA.events
  ALTER COLUMN upload_hour SET NOT NULL,
  ALTER COLUMN archive_entry SET NOT NULL,
  ALTER COLUMN archive_line SET NOT NULL;
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.events.upload_hour IS
  'The upload hour (server_upload_time, UTC) whose export held this row.';
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.events.archive_entry IS
  'The archive entry the row was read from: a position in upload_hours.entry_names.';
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.events.archive_line IS
  'The line of that entry, from 1.';

-- The insert_id rule's group: app, device (else user) and $insert_id, length-prefixed so that no two
-- groups print alike; NULL when the rule does not apply. The same text the earlier layout kept in
-- event_copies.insert_group, so migrated keys hash alike.
CREATE FUNCTION :AMPLITUDE_SCHEMA.insert_group(app bigint, device_id text, user_id text, insert_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN insert_id <> '' AND (device_id <> '' OR user_id <> '') THEN
    coalesce(app::text, '') || '/' ||
    CASE WHEN device_id <> '' THEN 'd' || length(device_id)::text || ':' || device_id
         ELSE 'u' || length(user_id)::text || ':' || user_id END ||
    '/' || insert_id
  END
$$;

-- Per partition, an hour's rows: what a reload replaces, and what an hour reads back of its own. An
-- hour's rows are appended together, so a BRIN index (a few bytes per 128 pages) finds them.
CREATE INDEX events_upload_hour_idx ON :AMPLITUDE_SCHEMA.events USING brin (upload_hour);

-- The dropped copies, in the same shape as events plus the rule that dropped them, so a later load can
-- bring one back exactly.
CREATE TABLE :AMPLITUDE_SCHEMA.duplicates_v2 (
  LIKE :AMPLITUDE_SCHEMA.events INCLUDING DEFAULTS,
  rule text NOT NULL CHECK (rule IN ('uuid', 'insert_id')),
  PRIMARY KEY (upload_hour, archive_entry, archive_line)
);
INSERT INTO :AMPLITUDE_SCHEMA.duplicates_v2
SELECT (jsonb_populate_record(NULL:::AMPLITUDE_SCHEMA.events,
          to_jsonb(d) || jsonb_build_object('archive_entry', array_position(h.entry_names, d.entry_name), 'archive_line', d.line_number))).*,
       d.rule
  FROM :AMPLITUDE_SCHEMA.duplicates d JOIN :AMPLITUDE_SCHEMA.upload_hours h USING (upload_hour);
DROP TABLE :AMPLITUDE_SCHEMA.duplicates;
ALTER TABLE :AMPLITUDE_SCHEMA.duplicates_v2 RENAME TO duplicates;
ALTER INDEX :AMPLITUDE_SCHEMA.duplicates_v2_pkey RENAME TO duplicates_pkey;
CREATE INDEX duplicates_uuid_idx ON :AMPLITUDE_SCHEMA.duplicates (uuid);
COMMENT ON TABLE :AMPLITUDE_SCHEMA.duplicates IS
  'Copies deduplication dropped, with the rule that dropped them; a reload of what displaced one brings it back.';

-- One row per uuid: its representative (the kept row in events, or a copy the insert_id rule
-- dropped), by the hour its event_time falls in and a hash of its insert group. Any hour finds a uuid,
-- or the members of a group near a time, by descending a btree of 4-byte hashes, whatever partition
-- they are in. A row takes 52 bytes, each index about 28 (a btree of the uuid itself would take 42).
CREATE TABLE :AMPLITUDE_SCHEMA.event_keys (
  uuid uuid NOT NULL,
  event_hour integer NOT NULL,
  group_hash integer
);
INSERT INTO :AMPLITUDE_SCHEMA.event_keys
SELECT uuid, floor(extract(epoch FROM event_time) / 3600)::integer, hashtext(insert_group)
  FROM :AMPLITUDE_SCHEMA.event_copies WHERE status <> 'uuid';
CREATE INDEX event_keys_uuid_idx ON :AMPLITUDE_SCHEMA.event_keys (uuid_hash(uuid));
CREATE INDEX event_keys_group_idx ON :AMPLITUDE_SCHEMA.event_keys (group_hash, event_hour) WHERE group_hash IS NOT NULL;
COMMENT ON TABLE :AMPLITUDE_SCHEMA.event_keys IS
  'Deduplication state: for each uuid, the hour (since the epoch, UTC) of its representative''s event_time and the hash of its insert group.';

DROP TABLE :AMPLITUDE_SCHEMA.event_copies;
-- Merges are numbered in recent_merges now.
ALTER TABLE :AMPLITUDE_SCHEMA.upload_hours DROP COLUMN merge_seq;

-- What each of the last merges touched, as hashes of its uuids and insert groups, so an hour that
-- probed the history before another committed checks only that one's keys. An hour whose probe is
-- older than every merge kept here contests all of its keys (dedup.ts keeps the last 32).
CREATE TABLE :AMPLITUDE_SCHEMA.recent_merges (
  id bigserial PRIMARY KEY,
  merge_seq bigint,
  upload_hour timestamptz NOT NULL,
  uuid_hashes integer[] NOT NULL,
  group_hashes integer[] NOT NULL
);
CREATE INDEX recent_merges_merge_seq_idx ON :AMPLITUDE_SCHEMA.recent_merges (merge_seq);

-- Deciding contested keys against what other loaders commit is serialized by a row lock on this
-- table (FOR UPDATE needs UPDATE on it, which readers lack, so no reader can hold loaders up).
CREATE TABLE :AMPLITUDE_SCHEMA.dedup_lock (id integer PRIMARY KEY CHECK (id = 1));
INSERT INTO :AMPLITUDE_SCHEMA.dedup_lock VALUES (1);
