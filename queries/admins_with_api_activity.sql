-- Admins with API activity: whose API keys made requests, how many, from where.
-- Admins missing from the latest admin listing show with an empty name.
--
-- Parameters (unset ones take their default):
--   :org  organization id (default: every organization)
--
-- Examples:
--   sqlite3 callbudget.db < queries/admins_with_api_activity.sql
--   callbudget query admins_with_api_activity --param org=549236
SELECT r.org_id,
       r.admin_id,
       a.name,
       a.email,
       a.org_access,
       count(*)                     AS requests,
       sum(r.response_code = 429)   AS http_429s,
       count(DISTINCT r.user_agent) AS user_agents,
       count(DISTINCT r.source_ip)  AS source_ips,
       min(r.ts)                    AS first_ts,
       max(r.ts)                    AS last_ts
FROM unfiltered_api_requests AS r
LEFT JOIN admins AS a ON a.org_id = r.org_id AND a.id = r.admin_id
WHERE r.admin_id IS NOT NULL
  AND (:org IS NULL OR r.org_id = :org)
GROUP BY r.org_id, r.admin_id
ORDER BY requests DESC, r.org_id, r.admin_id;
