-- Retention by cohort: users grouped by the UTC day they were first seen, and how many of them were
-- active again 0, 1, 2 ... days later, per project. Read from the rollups (users, daily_users), so it
-- costs the same whatever the size of events.
WITH active AS (
  SELECT DISTINCT project, amplitude_id, day FROM amplitude.daily_users
)
SELECT u.project, (u.first_seen AT TIME ZONE 'UTC')::date AS cohort, a.day - (u.first_seen AT TIME ZONE 'UTC')::date AS days_later, count(*) AS users
FROM amplitude.users u
JOIN active a USING (project, amplitude_id)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
