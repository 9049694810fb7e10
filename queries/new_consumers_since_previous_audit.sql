-- Consumers new since the previous audit of the organization.
-- User agents with requests in the window of the latest audit and none in the window of the
-- audit created before it (every consumer is new when there is only one audit).
--
-- Parameters (unset ones take their default):
--   :org  organization id (default: every organization)
--
-- Examples:
--   sqlite3 callbudget.db < queries/new_consumers_since_previous_audit.sql
--   callbudget query new_consumers_since_previous_audit --param org=549236
WITH ranked AS (
    SELECT id, org_id, t0, t1,
           row_number() OVER (PARTITION BY org_id ORDER BY created_at DESC, id DESC) AS recency
    FROM audits
    WHERE (:org IS NULL OR org_id = :org)
),
latest AS (SELECT * FROM ranked WHERE recency = 1),
previous AS (SELECT * FROM ranked WHERE recency = 2),
-- The previous window's consumers, read once (a lookup per request of the latest window would
-- scan the previous window again for each).
previous_consumers AS MATERIALIZED (
    SELECT DISTINCT old.org_id, old.user_agent
    FROM previous AS p
    JOIN unfiltered_api_requests AS old
      ON old.org_id = p.org_id AND old.ts >= p.t0 AND old.ts < p.t1
)
SELECT l.org_id,
       r.user_agent,
       count(*)                   AS requests,
       sum(r.response_code = 429) AS http_429s,
       min(r.ts)                  AS first_ts,
       l.id                       AS audit_id,
       p.id                       AS previous_audit_id
FROM latest AS l
JOIN unfiltered_api_requests AS r ON r.org_id = l.org_id AND r.ts >= l.t0 AND r.ts < l.t1
LEFT JOIN previous AS p ON p.org_id = l.org_id
WHERE NOT EXISTS (
    SELECT 1 FROM previous_consumers AS pc
    WHERE pc.org_id = p.org_id AND pc.user_agent IS r.user_agent
)
GROUP BY l.org_id, r.user_agent
ORDER BY l.org_id, first_ts, r.user_agent;
