-- The warehouse: one row per event, partitioned by month of event_time. Partitions are created on
-- demand by the loader (load/partitions.ts), for whatever month an event falls in.
-- Columns follow src/transform/event-columns.ts, in the same order; `duplicates` below copies them,
-- so a later migration that adds a column to `events` adds it to `duplicates` too.

CREATE SCHEMA IF NOT EXISTS :AMPLITUDE_SCHEMA;

CREATE TABLE :AMPLITUDE_SCHEMA.events (
  uuid uuid NOT NULL,
  event_time timestamptz NOT NULL,
  event_type text,
  user_id text,
  device_id text,
  app bigint,
  amplitude_id bigint,
  session_id bigint,
  event_id bigint,
  insert_id text,
  insert_key text,
  client_event_time timestamptz,
  client_upload_time timestamptz,
  server_received_time timestamptz,
  server_upload_time timestamptz,
  processed_time timestamptz,
  user_creation_time timestamptz,
  platform text,
  os_name text,
  os_version text,
  device_type text,
  device_family text,
  device_carrier text,
  device_brand text,
  device_manufacturer text,
  device_model text,
  city text,
  region text,
  country text,
  dma text,
  language text,
  library text,
  ip_address text,
  version_name text,
  start_version text,
  adid text,
  idfa text,
  data_type text,
  partner_id text,
  source_id text,
  amplitude_event_type text,
  location_lat double precision,
  location_lng double precision,
  sample_rate double precision,
  paying boolean,
  is_attribution_event boolean,
  event_properties jsonb,
  user_properties jsonb,
  group_properties jsonb,
  groups jsonb,
  data jsonb,
  plan jsonb,
  global_user_properties jsonb,
  amplitude_attribution_ids jsonb,
  extra jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (event_time);

COMMENT ON TABLE :AMPLITUDE_SCHEMA.events IS
  'Amplitude events, one row per uuid, deduplicated on uuid and on $insert_id. All times are UTC.';
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.events.extra IS
  'Every other top-level key of the export line, and any value its typed column could not hold, under its own name.';

-- Lets the loader find a stored row by uuid when a duplicate with an earlier upload supersedes it.
CREATE INDEX events_uuid_idx ON :AMPLITUDE_SCHEMA.events (uuid);

-- Every copy of an event the loader read, kept or not, with what dedup needs. Deduplication
-- decides over all copies, so the table ends the same whatever order the hours are loaded in.
CREATE TABLE :AMPLITUDE_SCHEMA.event_copies (
  upload_hour timestamptz NOT NULL,
  entry_name text NOT NULL,
  line_number integer NOT NULL,
  uuid uuid NOT NULL,
  event_time timestamptz NOT NULL,
  server_upload_time timestamptz,
  -- app, device (or user) and $insert_id, length-prefixed; NULL when the insert_id rule cannot apply.
  insert_group text,
  status text NOT NULL CHECK (status IN ('kept', 'uuid', 'insert_id')),
  PRIMARY KEY (upload_hour, entry_name, line_number)
);
CREATE INDEX event_copies_uuid_idx ON :AMPLITUDE_SCHEMA.event_copies (uuid);
CREATE INDEX event_copies_insert_group_idx ON :AMPLITUDE_SCHEMA.event_copies USING hash (insert_group);

-- The full rows of the copies that dedup dropped, so that a later decision can bring one back.
CREATE TABLE :AMPLITUDE_SCHEMA.duplicates (
  LIKE :AMPLITUDE_SCHEMA.events INCLUDING DEFAULTS,
  upload_hour timestamptz NOT NULL,
  entry_name text NOT NULL,
  line_number integer NOT NULL,
  rule text NOT NULL CHECK (rule IN ('uuid', 'insert_id')),
  PRIMARY KEY (upload_hour, entry_name, line_number)
);

-- Lines that are not events: not JSON, no uuid, no usable time.
CREATE TABLE :AMPLITUDE_SCHEMA.rejects (
  upload_hour timestamptz NOT NULL,
  entry_name text NOT NULL,
  line_number integer NOT NULL,
  reason text NOT NULL,
  raw_line text NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (upload_hour, entry_name, line_number)
);

-- The loader's bookkeeping, one row per upload hour it has attempted. An hour's row commits in the
-- same transaction as the hour's events.
CREATE TABLE :AMPLITUDE_SCHEMA.upload_hours (
  upload_hour timestamptz PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('loaded', 'empty', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  events_read bigint NOT NULL DEFAULT 0,
  rows_inserted bigint NOT NULL DEFAULT 0,
  duplicates_uuid bigint NOT NULL DEFAULT 0,
  duplicates_insert_id bigint NOT NULL DEFAULT 0,
  rows_superseded bigint NOT NULL DEFAULT 0,
  rows_restored bigint NOT NULL DEFAULT 0,
  rejected_lines bigint NOT NULL DEFAULT 0,
  sanitized_values bigint NOT NULL DEFAULT 0,
  bytes_downloaded bigint NOT NULL DEFAULT 0,
  archive_entries integer NOT NULL DEFAULT 0,
  started_at timestamptz,
  finished_at timestamptz,
  last_error text
);
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.upload_hours.rows_superseded IS
  'Rows of hours loaded earlier that this hour''s events replaced (a duplicate uploaded earlier wins).';
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.upload_hours.rows_restored IS
  'Rows of hours loaded earlier that came back into events because of this hour (a reload removed what had replaced them).';
