-- Daily budget use: requests per organization and UTC day against the day's budget.
-- The budget is :rate_per_second × 86,400 (Meraki's 10 per second: 864,000 a day). A day only
-- partly collected shows as such in `hours_with_requests`.
--
-- Parameters (unset ones take their default):
--   :org              organization id (default: every organization)
--   :rate_per_second  the organization's budget, a number (default: 10)
--
-- Examples:
--   sqlite3 callbudget.db < queries/daily_budget_use.sql
--   callbudget query daily_budget_use --param rate_per_second=10 --format csv
WITH params AS (
    SELECT :org AS org, coalesce(CAST(:rate_per_second AS REAL), 10.0) AS rate_per_second
)
SELECT r.org_id,
       substr(r.ts, 1, 10)                                  AS day,
       count(*)                                             AS requests,
       sum(r.response_code = 429)                           AS http_429s,
       CAST(params.rate_per_second * 86400 AS INTEGER)      AS daily_budget,
       round(100.0 * count(*) / (params.rate_per_second * 86400), 3) AS budget_used_pct,
       count(DISTINCT substr(r.ts, 1, 13))                  AS hours_with_requests
FROM unfiltered_api_requests AS r, params
WHERE (params.org IS NULL OR r.org_id = params.org)
GROUP BY r.org_id, day
ORDER BY r.org_id, day;
