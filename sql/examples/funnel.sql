-- Funnel: of the users who signed up, how many then added to cart, and then purchased.
-- Each step counts a user once, and only after the step before it. The three steps' events are read
-- once (steps is used three times, so PostgreSQL materializes it) and joined by hash, whatever the
-- size of a user's history.
WITH steps AS (
  SELECT amplitude_id, event_type, event_time
  FROM amplitude.events
  WHERE event_type IN ('signup', 'add_to_cart', 'purchase') AND amplitude_id IS NOT NULL
), signup AS (
  SELECT amplitude_id, min(event_time) AS at
  FROM steps WHERE event_type = 'signup'
  GROUP BY amplitude_id
), add_to_cart AS (
  SELECT s.amplitude_id, min(e.event_time) AS at
  FROM signup s
  JOIN steps e ON e.amplitude_id = s.amplitude_id AND e.event_type = 'add_to_cart' AND e.event_time >= s.at
  GROUP BY s.amplitude_id
), purchase AS (
  SELECT c.amplitude_id, min(e.event_time) AS at
  FROM add_to_cart c
  JOIN steps e ON e.amplitude_id = c.amplitude_id AND e.event_type = 'purchase' AND e.event_time >= c.at
  GROUP BY c.amplitude_id
)
SELECT 1 AS step, 'signup' AS event_type, count(*) AS users FROM signup
UNION ALL SELECT 2, 'add_to_cart', count(*) FROM add_to_cart
UNION ALL SELECT 3, 'purchase', count(*) FROM purchase
ORDER BY step;
