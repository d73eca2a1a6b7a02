-- The three most frequent event types on each platform.
SELECT platform, event_type, events
FROM (
  SELECT platform, event_type, count(*) AS events,
         rank() OVER (PARTITION BY platform ORDER BY count(*) DESC, event_type) AS place
  FROM amplitude.events
  GROUP BY platform, event_type
) ranked
WHERE place <= 3
ORDER BY platform, place;
