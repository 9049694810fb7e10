-- Top consumers (user agents) by requests in the hours before :until, with their 429s.
--
-- Parameters (unset ones take their default):
--   :org    organization id (default: every organization)
--   :until  end of the range, exclusive, a timestamp (default: the end of the collected log)
--   :hours  length of the range in hours, a number (default: 24)
--   :limit  rows to return, a whole number (default: 20)
--
-- Examples:
--   sqlite3 callbudget.db < queries/top_consumers.sql
--   callbudget query top_consumers --param org=549236 --param hours=6
WITH params AS (
    SELECT :org AS org,
           strftime('%Y-%m-%dT%H:%M:%f', coalesce(:until, (
               SELECT max(t1) FROM collection_windows
               WHERE endpoint = 'apiRequests' AND filter_kind = 'none' AND status = 'complete'
           ))) || '000Z' AS until,
           coalesce(CAST(:hours AS REAL), 24.0) AS hours,
           coalesce(CAST(:limit AS INTEGER), 20) AS row_limit
),
range AS (
    SELECT org,
           strftime('%Y-%m-%dT%H:%M:%f', until, printf('%+.3f seconds', -hours * 3600)) || '000Z'
               AS since,
           until
    FROM params
)
SELECT r.org_id,
       r.user_agent,
       count(*)                                                  AS requests,
       sum(r.response_code = 429)                                AS http_429s,
       round(100.0 * sum(r.response_code = 429) / count(*), 2)   AS throttled_pct,
       min(r.ts)                                                 AS first_ts,
       max(r.ts)                                                 AS last_ts
FROM unfiltered_api_requests AS r, range
WHERE (range.org IS NULL OR r.org_id = range.org)
  AND r.ts >= range.since AND r.ts < range.until
GROUP BY r.org_id, r.user_agent
ORDER BY requests DESC, r.org_id, r.user_agent
LIMIT (SELECT row_limit FROM params);
