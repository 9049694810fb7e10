-- Schema version 3: views for people who query the database directly (sqlite3, Datasette,
-- Grafana). Views only: nothing is stored twice, and every view reads the unfiltered request log
-- so that a request is counted at most once.

-- Requests per minute by organization and response code. `minute` is the timestamp's first 16
-- characters (`2026-11-19T09:00`), which sorts as time.
CREATE VIEW requests_per_minute AS
SELECT org_id,
       substr(ts, 1, 16) AS minute,
       response_code,
       count(*)          AS requests
FROM unfiltered_api_requests
GROUP BY org_id, minute, response_code;

-- One row per organization and consumer (user agent): how much it asked, how often it was
-- refused, over which span, and how widely (operations, admins' keys, source IPs).
CREATE VIEW consumer_summary AS
SELECT org_id,
       user_agent,
       count(*)                     AS requests,
       sum(response_code = 429)     AS http_429s,
       min(ts)                      AS first_ts,
       max(ts)                      AS last_ts,
       count(DISTINCT operation_id) AS operations,
       count(DISTINCT admin_id)     AS admins,
       count(DISTINCT source_ip)    AS source_ips
FROM unfiltered_api_requests
GROUP BY org_id, user_agent;

-- 429 answers per organization, consumer (user agent) and hour (`2026-11-19T09`). Hours in which
-- a consumer was never refused have no row.
CREATE VIEW http_429s_by_consumer_hour AS
SELECT org_id,
       substr(ts, 1, 13) AS hour,
       user_agent,
       count(*)          AS http_429s
FROM unfiltered_api_requests
WHERE response_code = 429
GROUP BY org_id, hour, user_agent;

-- Requests per organization and operation (operationId), with the refusals and the consumers.
CREATE VIEW operation_volume AS
SELECT org_id,
       operation_id,
       count(*)                   AS requests,
       sum(response_code = 429)   AS http_429s,
       count(DISTINCT user_agent) AS consumers,
       min(ts)                    AS first_ts,
       max(ts)                    AS last_ts
FROM unfiltered_api_requests
GROUP BY org_id, operation_id;

-- The findings of each organization's latest audit: the one created last (the highest id among
-- equal creation times).
CREATE VIEW latest_findings AS
SELECT f.audit_id,
       f.org_id,
       a.t0 AS audit_t0,
       a.t1 AS audit_t1,
       f.kind,
       f.severity,
       f.consumer,
       f.start,
       f.end,
       f.summary,
       f.metrics
FROM findings AS f
JOIN audits AS a ON a.id = f.audit_id
WHERE a.id = (
    SELECT latest.id
    FROM audits AS latest
    WHERE latest.org_id = a.org_id
    ORDER BY latest.created_at DESC, latest.id DESC
    LIMIT 1
);
