-- 429 episodes: runs of consecutive minutes with at least :min_429s answers 429, merged.
--
-- Parameters (unset ones take their default):
--   :org       organization id (default: every organization)
--   :min_429s  429s in a minute that make it part of an episode, a whole number (default: 5)
--
-- Examples:
--   sqlite3 callbudget.db < queries/http_429_episodes.sql
--   callbudget query http_429_episodes --param min_429s=20 --format csv
WITH params AS (
    SELECT :org AS org, coalesce(CAST(:min_429s AS INTEGER), 5) AS min_429s
),
hot_minutes AS (
    SELECT m.org_id,
           m.minute,
           m.requests AS http_429s,
           CAST(unixepoch(m.minute || ':00') / 60 AS INTEGER) AS minute_number
    FROM requests_per_minute AS m, params
    WHERE m.response_code = 429
      AND m.requests >= params.min_429s
      AND (params.org IS NULL OR m.org_id = params.org)
),
islands AS (
    SELECT *,
           minute_number - row_number() OVER (PARTITION BY org_id ORDER BY minute) AS island
    FROM hot_minutes
)
SELECT org_id,
       min(minute) || ':00.000000Z'                                            AS start,
       strftime('%Y-%m-%dT%H:%M', max(minute) || ':00', '+1 minute') || ':00.000000Z' AS end,
       count(*)                                                                AS minutes,
       sum(http_429s)                                                          AS http_429s,
       max(http_429s)                                                          AS peak_429s_per_minute
FROM islands
GROUP BY org_id, island
ORDER BY org_id, start;
