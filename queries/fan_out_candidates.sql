-- Per-device fan-out candidates: per-device operations called over many serials.
-- Consumers calling /api/v1/devices/{serial}/... for many serials, where one organization-wide
-- call would do.
--
-- Parameters (unset ones take their default):
--   :org          organization id (default: every organization)
--   :min_serials  distinct serials that make a candidate, a whole number (default: 10)
--
-- Examples:
--   sqlite3 callbudget.db < queries/fan_out_candidates.sql
--   callbudget query fan_out_candidates --param min_serials=100
WITH params AS (
    SELECT :org AS org, coalesce(CAST(:min_serials AS INTEGER), 10) AS min_serials
),
device_calls AS (
    SELECT r.org_id,
           r.user_agent,
           r.method,
           r.operation_id,
           -- The serial: the path segment after /api/v1/devices/ (16 characters).
           CASE WHEN instr(substr(r.path, 17), '/') > 0
                THEN substr(r.path, 17, instr(substr(r.path, 17), '/') - 1)
                ELSE substr(r.path, 17)
           END AS serial
    FROM unfiltered_api_requests AS r, params
    WHERE r.path LIKE '/api/v1/devices/%'
      AND (params.org IS NULL OR r.org_id = params.org)
)
SELECT org_id,
       user_agent,
       method,
       operation_id,
       count(DISTINCT serial)                      AS serials,
       count(*)                                    AS requests,
       round(1.0 * count(*) / count(DISTINCT serial), 2) AS requests_per_serial
FROM device_calls, params
GROUP BY org_id, user_agent, method, operation_id
HAVING count(DISTINCT serial) >= params.min_serials
ORDER BY requests DESC, org_id, user_agent, operation_id;
