-- Consumers that ignore Retry-After, from the latest audit's findings.
-- The `ignores_retry_after` findings of each organization's latest audit (run `callbudget
-- analyze` first), with the numbers behind them.
--
-- Parameters (unset ones take their default):
--   :org  organization id (default: every organization)
--
-- Examples:
--   sqlite3 callbudget.db < queries/ignores_retry_after.sql
--   callbudget query ignores_retry_after --param org=549236 --format json
SELECT f.org_id,
       f.consumer,
       f.severity,
       json_extract(f.metrics, '$.retried_429s')         AS retried_429s,
       json_extract(f.metrics, '$.early_retries')        AS early_retries,
       round(json_extract(f.metrics, '$.early_share'), 3) AS early_share,
       round(json_extract(f.metrics, '$.median_delay_seconds'), 3) AS median_delay_seconds,
       f.start,
       f.end,
       f.summary
FROM latest_findings AS f
WHERE f.kind = 'ignores_retry_after'
  AND (:org IS NULL OR f.org_id = :org)
ORDER BY f.org_id, early_retries DESC, f.consumer;
