-- Indexes for the questions analysts ask first (BENCHMARKS.md "Answers": each query with and without
-- them, and what they cost the load). Beside 0009's (amplitude_id, event_time), which serves one
-- user's timeline and the users rollup:
--
-- A BRIN on event_time: rows arrive roughly in time order within a partition, so a few bytes per 128
-- pages find one hour's or one day's window.
CREATE INDEX events_event_time_idx ON :AMPLITUDE_SCHEMA.events USING brin (event_time);
-- A btree on (amplitude_id, event_type, event_time): a funnel's or a path's next step, "this user's
-- next X after T", is one descent per user. Without it the planner walks each user's whole timeline
-- through the index above (2.2 s instead of 0.2 s for sql/examples/funnel.sql at 1M events).
CREATE INDEX events_user_event_type_idx ON :AMPLITUDE_SCHEMA.events (amplitude_id, event_type, event_time);
