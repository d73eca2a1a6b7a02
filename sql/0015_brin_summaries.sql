-- A BRIN index summarizes a range of pages only when vacuum or a call like this one gets to it; until
-- then every unsummarized range matches every query. Right after a load that is most of a partition:
-- finding one upload hour's rows through the upload_hour BRIN (a reload does, under the dedup lock too)
-- read the whole partition, and analysts' time windows through the event_time BRIN did the same. The
-- loader calls this after each hour commits, for the partitions the hour wrote to.
--
-- Summarizing waits for no one: a partition that vacuum (or another loader's call) holds is left to
-- it, and a loader whose role does not own the partitions leaves them to vacuum too. Returns how many
-- ranges it summarized.
CREATE FUNCTION :LOADER_SCHEMA.summarize_new_ranges(months timestamptz[]) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  SET lock_timeout = '100ms'
  AS $fn$
DECLARE
  analysts text := :'AMPLITUDE_SCHEMA_NAME';
  era record;
  partition_names text[];
  brin regclass;
  summarized integer := 0;
BEGIN
  SELECT * INTO era FROM :LOADER_SCHEMA.events_era();
  SELECT array_agg(DISTINCT CASE WHEN m < era.first_month THEN 'events_before_2010'
                                 WHEN m >= era.end_month THEN 'events_from_2040'
                                 ELSE 'events_p' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM') END)
    INTO partition_names FROM unnest(months) m;
  FOR brin IN
    SELECT i.indexrelid::regclass
      FROM pg_index i
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am a ON a.oid = ic.relam
     WHERE t.relnamespace = analysts::regnamespace AND t.relname = ANY (partition_names) AND a.amname = 'brin'
  LOOP
    BEGIN
      summarized := summarized + brin_summarize_new_values(brin);
    EXCEPTION WHEN lock_not_available OR insufficient_privilege THEN
      NULL;
    END;
  END LOOP;
  RETURN summarized;
END
$fn$;
