-- Rejects are keyed as events are, by the entry's position in upload_hours.entry_names rather than
-- its name: two entries of one name (a zip may hold them; --from-file may be given a zip twice) keep
-- their rejects apart, and a name of any length fits the key (a btree entry holds about 2.7 kB).
ALTER TABLE :AMPLITUDE_SCHEMA.rejects ADD COLUMN archive_entry integer;
UPDATE :AMPLITUDE_SCHEMA.rejects r SET archive_entry = array_position(h.entry_names, r.entry_name)
  FROM :AMPLITUDE_SCHEMA.upload_hours h
 WHERE h.upload_hour = r.upload_hour;
-- Rejects whose hour recorded no names (none should be left after 0005): numbered by name.
UPDATE :AMPLITUDE_SCHEMA.rejects r SET archive_entry = n.position
  FROM (SELECT upload_hour, entry_name, dense_rank() OVER (PARTITION BY upload_hour ORDER BY entry_name)::integer AS position
          FROM :AMPLITUDE_SCHEMA.rejects) n
 WHERE r.archive_entry IS NULL AND n.upload_hour = r.upload_hour AND n.entry_name = r.entry_name;
ALTER TABLE :AMPLITUDE_SCHEMA.rejects
  ALTER COLUMN archive_entry SET NOT NULL,
  DROP CONSTRAINT rejects_pkey,
  ADD PRIMARY KEY (upload_hour, archive_entry, line_number);
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.rejects.archive_entry IS
  'The archive entry the line was read from: a position in upload_hours.entry_names (entry_name repeats it).';

-- Entries the loader did not read (not NDJSON by their name: .csv, a nested .zip), named in the log.
ALTER TABLE :AMPLITUDE_SCHEMA.upload_hours ADD COLUMN entries_skipped integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN :AMPLITUDE_SCHEMA.upload_hours.entries_skipped IS
  'Archive entries passed over because their names are not .json.gz, .gz, .json or .ndjson; each is named in the run log.';
