-- Operations by volume: requests per operation, share, 429s and consumers.
--
-- Parameters (unset ones take their default):
--   :org    organization id (default: every organization)
--   :limit  rows to return, a whole number (default: 20)
--
-- Examples:
--   sqlite3 callbudget.db < queries/operations_by_volume.sql
--   callbudget query operations_by_volume --param limit=5
SELECT v.org_id,
       v.operation_id,
       v.requests,
       round(100.0 * v.requests / sum(v.requests) OVER (PARTITION BY v.org_id), 2) AS share_pct,
       v.http_429s,
       v.consumers,
       v.first_ts,
       v.last_ts
FROM operation_volume AS v
WHERE (:org IS NULL OR v.org_id = :org)
ORDER BY v.requests DESC, v.org_id, v.operation_id
LIMIT coalesce(CAST(:limit AS INTEGER), 20);
