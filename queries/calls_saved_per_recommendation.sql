-- Calls saved per recommendation of the latest audit, largest saving first.
-- From each recommendation's metrics; budget_freed_pct is against 864,000 calls a day.
--
-- Parameters (unset ones take their default):
--   :org  organization id (default: every organization)
--
-- Examples:
--   sqlite3 callbudget.db < queries/calls_saved_per_recommendation.sql
--   callbudget query calls_saved_per_recommendation --format json
SELECT f.org_id,
       f.consumer,
       json_extract(f.metrics, '$.current_operation')                AS current_operation,
       json_extract(f.metrics, '$.suggested_operation')              AS suggested_operation,
       CAST(round(json_extract(f.metrics, '$.current_calls_per_day')) AS INTEGER) AS calls_per_day,
       CAST(round(json_extract(f.metrics, '$.calls_per_day_after')) AS INTEGER) AS calls_per_day_after,
       CAST(round(json_extract(f.metrics, '$.calls_saved_per_day')) AS INTEGER) AS calls_saved_per_day,
       round(100.0 * json_extract(f.metrics, '$.calls_saved_per_day') / 864000, 3)
                                                                     AS budget_freed_pct,
       f.summary
FROM latest_findings AS f
WHERE f.kind = 'recommendation'
  AND (:org IS NULL OR f.org_id = :org)
ORDER BY calls_saved_per_day DESC, f.org_id, f.consumer;
