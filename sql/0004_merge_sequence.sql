-- The order in which hours were merged. A loader probes the history before it takes the merge lock;
-- once it holds the lock it re-checks only the hours merged since, which this sequence names.
CREATE SEQUENCE :AMPLITUDE_SCHEMA.hour_merge_seq;
ALTER TABLE :AMPLITUDE_SCHEMA.upload_hours ADD COLUMN merge_seq bigint;
CREATE INDEX upload_hours_merge_seq_idx ON :AMPLITUDE_SCHEMA.upload_hours (merge_seq);
