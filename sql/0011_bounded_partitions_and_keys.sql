-- What a single event's values can do to the schema, bounded.
--
-- Times. Monthly partitions of events cover a fixed era, 2010-01 through 2039-12; every time before it
-- lands in events_before_2010 and every time after it in events_from_2040, whatever the year (the
-- calendar's ends included: year 1 minus an offset is 1 BC, 9999 plus one is 10000). So no value can
-- make a partition whose name or bounds PostgreSQL cannot write, and no hour can make more than the
-- era's 360 monthly partitions however its times are spread: every query on events locks each
-- partition and its indexes, and PostgreSQL's lock table (max_locks_per_transaction × connections)
-- is shared by the whole server. Partitions outside the era made by an earlier loader are emptied
-- into the two edges and dropped.
--
-- Text in keys. A btree entry holds at most about 2,700 bytes, and Amplitude accepts event types and
-- platforms far longer. Events' (amplitude_id, event_time) index no longer carries event_type; the
-- rollups' keys become a SHA-256 of their text (text_key below) in 0013.

CREATE FUNCTION :LOADER_SCHEMA.events_era(OUT first_month timestamptz, OUT end_month timestamptz)
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT timestamptz '2010-01-01 00:00:00+00', timestamptz '2040-01-01 00:00:00+00' $$;

-- Creates the monthly partition holding `month_start` (the first instant of a UTC month in the era)
-- unless it exists, and grants the reader role on it. The table is created apart and then attached:
-- ATTACH takes only SHARE UPDATE EXCLUSIVE on events, so loaders writing and analysts reading carry
-- on. An advisory lock keeps two loaders from making the same month at once. Returns its name.
CREATE FUNCTION :LOADER_SCHEMA.create_events_partition(month_start timestamptz) RETURNS text
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $fn$
DECLARE
  analysts text := :'AMPLITUDE_SCHEMA_NAME';
  era record;
  partition_name text;
BEGIN
  SELECT * INTO era FROM :LOADER_SCHEMA.events_era();
  IF month_start < era.first_month OR month_start >= era.end_month
     OR month_start <> date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
    RAISE EXCEPTION 'no monthly partition starts at %: months from % to % have their own', month_start, era.first_month, era.end_month;
  END IF;
  partition_name := 'events_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
  PERFORM pg_advisory_xact_lock(hashtextextended('amplitude-pg partitions ' || analysts, 0));
  IF NOT EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = format('%I.events', analysts)::regclass AND c.relname = partition_name) THEN
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', analysts, partition_name, analysts);
    EXECUTE format('ALTER TABLE %I.events ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   analysts, analysts, partition_name,
                   to_char(month_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00',
                   to_char((month_start AT TIME ZONE 'UTC') + interval '1 month', 'YYYY-MM-DD HH24:MI:SS') || '+00');
    PERFORM :LOADER_SCHEMA.grant_reader(format('%I.%I', analysts, partition_name)::regclass);
  END IF;
  RETURN partition_name;
END
$fn$;

-- The one place the reader role is granted a relation (where the role exists: it is created only
-- where the migrating user may create roles).
CREATE FUNCTION :LOADER_SCHEMA.grant_reader(relation regclass) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $fn$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader') THEN
    EXECUTE format('GRANT SELECT ON %s TO amplitude_reader', relation);
  END IF;
END
$fn$;

DO $$
DECLARE
  analysts text := :'AMPLITUDE_SCHEMA_NAME';
  events regclass := format('%I.events', :'AMPLITUDE_SCHEMA_NAME')::regclass;
  columns text;
  outside text[];
  partition_name text;
BEGIN
  -- Partitions an earlier loader made outside the era (events_p1970_01, events_p2099_12,
  -- events_p10000_01, ...): in the era, a monthly partition is named for its month and nothing else.
  SELECT coalesce(array_agg(c.relname ORDER BY c.relname), '{}') INTO outside
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = events AND c.relname !~ '^events_p20[1-3][0-9]_(0[1-9]|1[0-2])$';
  FOREACH partition_name IN ARRAY outside LOOP
    EXECUTE format('ALTER TABLE %I.events DETACH PARTITION %I.%I', analysts, analysts, partition_name);
  END LOOP;
  EXECUTE format('CREATE TABLE %I.events_before_2010 PARTITION OF %I.events FOR VALUES FROM (MINVALUE) TO (%L)',
                 analysts, analysts, '2010-01-01 00:00:00+00');
  EXECUTE format('CREATE TABLE %I.events_from_2040 PARTITION OF %I.events FOR VALUES FROM (%L) TO (MAXVALUE)',
                 analysts, analysts, '2040-01-01 00:00:00+00');
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute WHERE attrelid = events AND attnum > 0 AND NOT attisdropped;
  FOREACH partition_name IN ARRAY outside LOOP
    EXECUTE format('INSERT INTO %I.events (%s) SELECT %s FROM %I.%I', analysts, columns, columns, analysts, partition_name);
    EXECUTE format('DROP TABLE %I.%I', analysts, partition_name);
  END LOOP;
  PERFORM :LOADER_SCHEMA.grant_reader(format('%I.events_before_2010', analysts)::regclass);
  PERFORM :LOADER_SCHEMA.grant_reader(format('%I.events_from_2040', analysts)::regclass);
END
$$;

-- The key of a text in a unique key: its SHA-256, 32 bytes whatever the text's length, and one byte
-- for NULL (no text hashes to one byte), so NULLs are equal as keys. Immutable in fact: the text's bytes
-- are those of the database's encoding, which never changes. The rollups' keys use it (0013).
CREATE FUNCTION :LOADER_SCHEMA.text_key(value text) RETURNS bytea
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN value IS NULL THEN '\x00'::bytea ELSE sha256(convert_to(value, 'UTF8')) END $$;

-- One user's events in time order (a timeline, a funnel's next step, the users rollup); event_type is
-- read from the row.
DROP INDEX :AMPLITUDE_SCHEMA.events_amplitude_id_idx;
CREATE INDEX events_amplitude_id_idx ON :AMPLITUDE_SCHEMA.events (amplitude_id, event_time);
