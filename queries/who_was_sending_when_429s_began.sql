-- Who was sending when the 429s began, per 429 episode, busiest consumer first.
-- For the first minute of each episode (a run of minutes with at least :min_429s answers 429),
-- every consumer's requests from :lead_minutes before it to its end.
--
-- Parameters (unset ones take their default):
--   :org           organization id (default: every organization)
--   :min_429s      429s in a minute that make it part of an episode, a whole number (default: 5)
--   :lead_minutes  minutes before the episode's first minute to include, a whole number (default: 1)
--
-- Examples:
--   sqlite3 callbudget.db < queries/who_was_sending_when_429s_began.sql
--   callbudget query who_was_sending_when_429s_began --param lead_minutes=5
WITH params AS (
    SELECT :org AS org,
           coalesce(CAST(:min_429s AS INTEGER), 5) AS min_429s,
           coalesce(CAST(:lead_minutes AS INTEGER), 1) AS lead_minutes
),
hot_minutes AS (
    SELECT m.org_id,
           m.minute,
           CAST(unixepoch(m.minute || ':00') / 60 AS INTEGER) AS minute_number
    FROM requests_per_minute AS m, params
    WHERE m.response_code = 429
      AND m.requests >= params.min_429s
      AND (params.org IS NULL OR m.org_id = params.org)
),
episode_starts AS (
    SELECT h.org_id,
           h.minute || ':00.000000Z' AS episode_start,
           strftime('%Y-%m-%dT%H:%M', h.minute || ':00', printf('-%d minutes', p.lead_minutes))
               || ':00.000000Z' AS since,
           strftime('%Y-%m-%dT%H:%M', h.minute || ':00', '+1 minute') || ':00.000000Z' AS until
    FROM hot_minutes AS h, params AS p
    WHERE NOT EXISTS (
        SELECT 1 FROM hot_minutes AS before
        WHERE before.org_id = h.org_id AND before.minute_number = h.minute_number - 1
    )
)
SELECT e.org_id,
       e.episode_start,
       r.user_agent,
       count(*)                                        AS requests,
       sum(r.response_code = 429)                      AS http_429s,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY e.org_id, e.episode_start), 2)
                                                       AS share_pct
FROM episode_starts AS e
JOIN unfiltered_api_requests AS r
  ON r.org_id = e.org_id AND r.ts >= e.since AND r.ts < e.until
GROUP BY e.org_id, e.episode_start, r.user_agent
ORDER BY e.org_id, e.episode_start, requests DESC, r.user_agent;
