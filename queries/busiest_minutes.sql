-- Busiest minutes: the minutes with the most requests, against a 600-a-minute budget.
-- 600 a minute is Meraki's 10 requests per second; the 429s of each minute alongside.
--
-- Parameters (unset ones take their default):
--   :org    organization id (default: every organization)
--   :limit  rows to return, a whole number (default: 10)
--
-- Examples:
--   sqlite3 callbudget.db < queries/busiest_minutes.sql
--   callbudget query busiest_minutes --param limit=3
SELECT org_id,
       minute,
       sum(requests)                                        AS requests,
       sum(CASE WHEN response_code = 429 THEN requests ELSE 0 END) AS http_429s,
       round(100.0 * sum(requests) / 600, 1)                AS budget_used_pct
FROM requests_per_minute
WHERE (:org IS NULL OR org_id = :org)
GROUP BY org_id, minute
ORDER BY requests DESC, org_id, minute
LIMIT coalesce(CAST(:limit AS INTEGER), 10);
