-- Indexes for the questions analysts ask first (BENCHMARKS.md "Answers": each query with and without
-- them, and what they cost the load). Beside 0009's (amplitude_id, event_time) INCLUDE (event_type),
-- which serves one user's timeline, a funnel's steps and the users rollup:
--
-- A BRIN on event_time: rows arrive roughly in time order within a partition, so a few bytes per 128
-- pages find one hour's or one day's window.
CREATE INDEX events_event_time_idx ON :AMPLITUDE_SCHEMA.events USING brin (event_time);
