-- Each project's table of dedup keys, made the first time the project loads (registerProject). Its
-- layout lives here, as migration 0005 laid out the first one: a row of 52 bytes, two btrees of
-- 4-byte hashes. Returns the table's name; the loader adds its comments from the catalog.
CREATE FUNCTION :LOADER_SCHEMA.create_keys_table(project_id integer) RETURNS text
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $fn$
DECLARE
  loader text := :'LOADER_SCHEMA_NAME';
  table_name text := 'event_keys_' || project_id;
BEGIN
  EXECUTE format('CREATE TABLE %I.%I (uuid uuid NOT NULL, event_hour integer NOT NULL, group_hash integer)', loader, table_name);
  EXECUTE format('CREATE INDEX %I ON %I.%I (uuid_hash(uuid))', table_name || '_uuid_idx', loader, table_name);
  EXECUTE format('CREATE INDEX %I ON %I.%I (group_hash, event_hour) WHERE group_hash IS NOT NULL', table_name || '_group_idx', loader, table_name);
  RETURN table_name;
END
$fn$;
