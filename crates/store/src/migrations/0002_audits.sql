-- callbudget schema, version 2: analysis runs and their findings, so periodic audits can be
-- compared and queried. Re-analysing a window replaces its audit and findings.

CREATE TABLE audits (
    id           INTEGER PRIMARY KEY,
    org_id       TEXT NOT NULL,
    t0           TEXT NOT NULL,
    t1           TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    http_429s    INTEGER NOT NULL CHECK (http_429s >= 0),
    -- The run's headline numbers and settings, as JSON.
    summary      TEXT NOT NULL CHECK (json_valid(summary)),
    CHECK (t0 < t1)
);
CREATE UNIQUE INDEX audits_by_window ON audits (org_id, t0, t1);

CREATE TABLE findings (
    audit_id  INTEGER NOT NULL REFERENCES audits (id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    consumer  TEXT,
    start     TEXT NOT NULL,
    end       TEXT NOT NULL,
    summary   TEXT NOT NULL,
    metrics   TEXT NOT NULL CHECK (json_valid(metrics))
);
CREATE INDEX findings_by_audit ON findings (audit_id);
CREATE INDEX findings_by_org ON findings (org_id, kind, start);
