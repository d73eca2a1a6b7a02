-- Retention by cohort: users grouped by the UTC day they were first seen, and how many of them were
-- active again 0, 1, 2 ... days later.
WITH first_seen AS (
  SELECT amplitude_id, min((event_time AT TIME ZONE 'UTC')::date) AS cohort
  FROM amplitude.events
  GROUP BY amplitude_id
), active AS (
  SELECT DISTINCT amplitude_id, (event_time AT TIME ZONE 'UTC')::date AS day
  FROM amplitude.events
)
SELECT f.cohort, a.day - f.cohort AS days_later, count(*) AS users
FROM first_seen f
JOIN active a USING (amplitude_id)
GROUP BY f.cohort, days_later
ORDER BY f.cohort, days_later;
