-- coverage's hours_loaded counted empty hours too, beside a status that says "48 loaded, 24 empty":
-- the columns now say what they count. hours_done = hours_with_data + hours_empty; hours_missing is
-- what is not done between first_hour and last_hour (never asked for, or failed).
DROP VIEW :AMPLITUDE_SCHEMA.coverage;
CREATE VIEW :AMPLITUDE_SCHEMA.coverage AS
SELECT
  project,
  min(upload_hour) FILTER (WHERE status <> 'failed') AS first_hour,
  max(upload_hour) FILTER (WHERE status <> 'failed') AS last_hour,
  count(*) FILTER (WHERE status <> 'failed') AS hours_done,
  count(*) FILTER (WHERE status = 'loaded') AS hours_with_data,
  count(*) FILTER (WHERE status = 'empty') AS hours_empty,
  (extract(epoch FROM max(upload_hour) FILTER (WHERE status <> 'failed') - min(upload_hour) FILTER (WHERE status <> 'failed')) / 3600)::bigint + 1
    - count(*) FILTER (WHERE status <> 'failed') AS hours_missing,
  count(*) FILTER (WHERE status = 'failed') AS hours_failed,
  coalesce(sum(rows_inserted) FILTER (WHERE status <> 'failed'), 0) AS rows_inserted,
  max(finished_at) FILTER (WHERE status <> 'failed') AS last_loaded_at,
  now() - (max(upload_hour) FILTER (WHERE status <> 'failed') + interval '1 hour') AS freshness
FROM :LOADER_SCHEMA.upload_hours
GROUP BY project;
SELECT :LOADER_SCHEMA.grant_reader(format('%I.coverage', :'AMPLITUDE_SCHEMA_NAME')::regclass);
