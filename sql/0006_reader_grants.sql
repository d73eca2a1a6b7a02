-- amplitude_reader reads what analysts read in this schema and nothing else: 0003 granted SELECT on
-- every table of the schema and, by default privileges, on every later one, which in a schema shared
-- with other tables (--shared-schema) reached those too. Now the grants name the loader's objects, and
-- the loader grants each new partition of events as it creates it.
DO $$
DECLARE
  schema_name text := :'AMPLITUDE_SCHEMA_NAME';
  partition regclass;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amplitude_reader') THEN
    RETURN;
  END IF;
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT ON TABLES FROM amplitude_reader', schema_name);
  EXECUTE format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM amplitude_reader', schema_name);
  EXECUTE format(
    'GRANT SELECT ON %1$I.events, %1$I.duplicates, %1$I.rejects, %1$I.upload_hours, %1$I.sessions, %1$I.daily_active_users, %1$I.event_counts TO amplitude_reader',
    schema_name);
  FOR partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = format('%I.events', schema_name)::regclass LOOP
    EXECUTE format('GRANT SELECT ON %s TO amplitude_reader', partition);
  END LOOP;
END
$$;
