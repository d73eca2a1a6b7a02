-- Every statement that appends a change of users, sessions or users' devices names its hour's
-- transaction (xid) itself (load/rollups.ts). The column default, pg_current_xact_id(), was computed
-- on the Citus workers, in transactions of their own, when the INSERT's SELECT read the distributed
-- events (the users tally of an hour's own rows): the fold then found no hour for those changes and
-- dropped them. Without a default, a statement that leaves the id out fails instead.
ALTER TABLE :LOADER_SCHEMA.users_pending ALTER COLUMN xid DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.sessions_pending ALTER COLUMN xid DROP DEFAULT;
ALTER TABLE :LOADER_SCHEMA.device_users_pending ALTER COLUMN xid DROP DEFAULT;

-- A warehouse distributed before this lost users from its users rollup that way: recomputed from events,
-- which hold every row the pending changes describe. The other rollups' changes were appended from the
-- hour's own temporary tables or from the rows a statement moved, on the coordinator, and are exact.
DO $$
BEGIN
  -- Apart: without Citus a statement naming pg_dist_partition cannot even be planned.
  IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = to_regclass(format('%I.events', :'AMPLITUDE_SCHEMA_NAME'))) THEN
    DELETE FROM :LOADER_SCHEMA.users_pending;
    DELETE FROM :LOADER_SCHEMA.users_folded;
    INSERT INTO :LOADER_SCHEMA.users_folded (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties)
    SELECT l.project, l.amplitude_id, f.first_seen, l.event_time, l.uuid, l.user_id, l.user_properties
      FROM (SELECT DISTINCT ON (project, amplitude_id) project, amplitude_id, event_time, uuid, user_id, user_properties
              FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL
             ORDER BY project, amplitude_id, event_time DESC, uuid DESC) l
      JOIN (SELECT project, amplitude_id, min(event_time) AS first_seen
              FROM :AMPLITUDE_SCHEMA.events WHERE amplitude_id IS NOT NULL GROUP BY project, amplitude_id) f USING (project, amplitude_id);
  END IF;
END $$;
