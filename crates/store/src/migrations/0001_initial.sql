-- callbudget schema, version 1. Applied once, inside one transaction, by rusqlite_migration;
-- never edit a released migration: add 0002_*.sql instead. docs/schema.md documents every column.
-- Every timestamp column holds crate::timestamp's canonical text: 2026-11-20T10:15:02.120000Z.

-- 0x43424447 ("CBDG"): marks the file as a callbudget database (sqlite3 `.dbinfo` shows it).
PRAGMA application_id = 1128416327;

CREATE TABLE metadata (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO metadata (key, value) VALUES ('application', 'callbudget');

CREATE TABLE organizations (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    url          TEXT,
    api_enabled  INTEGER CHECK (api_enabled IN (0, 1)),
    cloud_region TEXT,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL
);

CREATE TABLE admins (
    org_id                  TEXT NOT NULL,
    id                      TEXT NOT NULL,
    name                    TEXT,
    email                   TEXT,
    org_access              TEXT,
    account_status          TEXT,
    two_factor_auth_enabled INTEGER CHECK (two_factor_auth_enabled IN (0, 1)),
    has_api_key             INTEGER CHECK (has_api_key IN (0, 1)),
    last_active             TEXT,
    authentication_method   TEXT,
    tags                    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    networks                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(networks)),
    collected_at            TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;

CREATE TABLE collection_windows (
    id           INTEGER PRIMARY KEY,
    org_id       TEXT NOT NULL,
    endpoint     TEXT NOT NULL CHECK (endpoint IN
                     ('organizations', 'admins', 'apiRequests', 'overview', 'responseCodesByInterval')),
    filter_kind  TEXT NOT NULL DEFAULT 'none' CHECK (filter_kind IN
                     ('none', 'admin', 'source_ip', 'user_agent', 'operation')),
    filter_value TEXT NOT NULL DEFAULT '',
    t0           TEXT NOT NULL,
    t1           TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('complete', 'failed', 'in_progress')),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    rows         INTEGER NOT NULL DEFAULT 0 CHECK (rows >= 0),
    calls        INTEGER NOT NULL DEFAULT 0 CHECK (calls >= 0),
    http_429s    INTEGER NOT NULL DEFAULT 0 CHECK (http_429s >= 0),
    error        TEXT,
    CHECK (t0 <= t1),
    CHECK ((filter_kind = 'none') = (filter_value = '')),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK ((status = 'in_progress') = (finished_at IS NULL))
);
CREATE INDEX collection_windows_by_scope
    ON collection_windows (org_id, endpoint, filter_kind, filter_value, t0);

-- The big table (up to 26.8 M rows per saturated org-month): no primary key beyond the rowid, and
-- only three indexes, so that it stays compact and fast to fill.
CREATE TABLE api_requests (
    window_id     INTEGER NOT NULL REFERENCES collection_windows (id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL,
    ts            TEXT NOT NULL,
    admin_id      TEXT,
    method        TEXT,
    host          TEXT,
    path          TEXT,
    query_string  TEXT,
    user_agent    TEXT,
    response_code INTEGER,
    source_ip     TEXT,
    version       INTEGER,
    operation_id  TEXT,
    client_id     TEXT,
    client_type   TEXT
);
-- Needed by ON DELETE CASCADE: without it every replaced window scans the whole table.
CREATE INDEX api_requests_by_window ON api_requests (window_id);
CREATE INDEX api_requests_by_time ON api_requests (org_id, ts);
-- The user agent is how consumers are told apart (Meraki's "ApplicationName/Version Vendor").
CREATE INDEX api_requests_by_user_agent ON api_requests (org_id, user_agent, ts);

CREATE TABLE response_code_counts (
    window_id        INTEGER NOT NULL REFERENCES collection_windows (id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL,
    interval_start   TEXT NOT NULL,
    interval_end     TEXT NOT NULL,
    interval_seconds INTEGER NOT NULL,
    response_code    INTEGER NOT NULL,
    count            INTEGER NOT NULL CHECK (count >= 0),
    filter_kind      TEXT NOT NULL CHECK (filter_kind IN
                         ('none', 'admin', 'source_ip', 'user_agent', 'operation')),
    filter_value     TEXT NOT NULL,
    CHECK ((filter_kind = 'none') = (filter_value = ''))
);
CREATE INDEX response_code_counts_by_window ON response_code_counts (window_id);
CREATE INDEX response_code_counts_by_time ON response_code_counts (org_id, interval_start);

CREATE TABLE overview_counts (
    window_id     INTEGER NOT NULL REFERENCES collection_windows (id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL,
    t0            TEXT NOT NULL,
    t1            TEXT NOT NULL,
    response_code INTEGER NOT NULL,
    count         INTEGER NOT NULL CHECK (count >= 0)
);
CREATE INDEX overview_counts_by_window ON overview_counts (window_id);
CREATE INDEX overview_counts_by_time ON overview_counts (org_id, t0);

-- The per-request log of unfiltered apiRequests windows: each request at most once. Rows of a
-- filtered window (say, one admin's requests) may repeat rows of an unfiltered window.
CREATE VIEW unfiltered_api_requests AS
SELECT r.*
FROM api_requests AS r
JOIN collection_windows AS w ON w.id = r.window_id
WHERE w.filter_kind = 'none';
