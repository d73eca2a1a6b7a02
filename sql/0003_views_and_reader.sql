-- Views for analysts, and a read-only role. All times are UTC; a day is a UTC day.

-- One row per session (Amplitude's session_id, per app and device); -1 marks events without one.
CREATE VIEW :AMPLITUDE_SCHEMA.sessions AS
SELECT
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
GROUP BY app, device_id, session_id;

-- Users active per UTC day and platform; a user is Amplitude's amplitude_id, else the device.
CREATE VIEW :AMPLITUDE_SCHEMA.daily_active_users AS
SELECT
  (event_time AT TIME ZONE 'UTC')::date AS day,
  platform,
  count(DISTINCT coalesce(amplitude_id::text, 'device ' || device_id)) AS active_users
FROM :AMPLITUDE_SCHEMA.events
GROUP BY 1, 2;

-- Events per UTC day and event type, with how many users sent them.
CREATE VIEW :AMPLITUDE_SCHEMA.event_counts AS
SELECT
  (event_time AT TIME ZONE 'UTC')::date AS day,
  event_type,
  count(*) AS events,
  count(DISTINCT coalesce(amplitude_id::text, 'device ' || device_id)) AS users
FROM :AMPLITUDE_SCHEMA.events
GROUP BY 1, 2;

-- amplitude_reader: grant it to whoever should read (GRANT amplitude_reader TO alice). It cannot log
-- in by itself. Roles belong to the whole server: it is created only where the migrating user may
-- create roles, and granted access wherever it exists.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader')
     AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
    BEGIN
      CREATE ROLE amplitude_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created meanwhile by a migration of another database
    END;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO amplitude_reader', :'AMPLITUDE_SCHEMA_NAME');
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO amplitude_reader', :'AMPLITUDE_SCHEMA_NAME');
    -- Partitions and tables the loader creates later, as the user that runs the migrations.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO amplitude_reader', :'AMPLITUDE_SCHEMA_NAME');
  ELSE
    RAISE NOTICE 'amplitude_reader does not exist and % may not create roles: skipped', current_user;
  END IF;
END
$$;
