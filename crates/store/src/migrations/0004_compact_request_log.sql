-- Schema version 4: the per-request log stored compactly, read as before.
--
-- A saturated organization logs 26.8 M requests a month. Stored flat (schema 1), each took about
-- 400 bytes with its indexes, nearly all of it the same few strings over and over. Now:
-- - who sent a request (admin, user agent, source IP, client) is one row of `request_sources`, and
--   what it called (method, host, path, version, operation) one row of `request_endpoints`; a
--   request names each by its integer id. Both tables only grow: a row, once written, is never
--   changed or deleted, so a writer may cache the ids.
-- - `ts` is stored as integer microseconds since the Unix epoch (8 bytes instead of 27, in the
--   table and in each index); the views turn it back into the canonical text.
-- - the organization comes from the request's window (`collection_windows.org_id`) instead of
--   being repeated in every row.
-- - the query string, the one field that may differ on every request (page cursors), stays in
--   the row, so that it never bloats a dictionary.
-- The view `api_requests` has the old table's name and columns, in the old order (and `rowid`), so
-- every query written against schema 3 (and the views of 0003) reads the same rows as before.

CREATE TABLE request_sources (
    id          INTEGER PRIMARY KEY,
    admin_id    TEXT,
    user_agent  TEXT,
    source_ip   TEXT,
    client_id   TEXT,
    client_type TEXT
);
-- Finds a source when storing (NULL and '' are different values, so lookups use IS).
CREATE INDEX request_sources_by_user_agent ON request_sources (user_agent);

CREATE TABLE request_endpoints (
    id           INTEGER PRIMARY KEY,
    method       TEXT,
    host         TEXT,
    path         TEXT,
    version      INTEGER,
    operation_id TEXT
);
CREATE INDEX request_endpoints_by_path ON request_endpoints (path);

-- No foreign keys to the dictionaries: they are never deleted from, and a check per inserted row
-- would cost ingest time for nothing.
CREATE TABLE request_log (
    id            INTEGER PRIMARY KEY,
    window_id     INTEGER NOT NULL REFERENCES collection_windows (id) ON DELETE CASCADE,
    ts_us         INTEGER NOT NULL,
    response_code INTEGER,
    source_id     INTEGER NOT NULL,
    endpoint_id   INTEGER NOT NULL,
    query_string  TEXT
);

-- Existing rows move over: the distinct sources and endpoints first, then every request in its
-- old rowid order, keeping its rowid as its id. Timestamps were always written canonically
-- (2026-11-20T10:15:02.120000Z).
INSERT INTO request_sources (admin_id, user_agent, source_ip, client_id, client_type)
SELECT DISTINCT admin_id, user_agent, source_ip, client_id, client_type
FROM api_requests;

INSERT INTO request_endpoints (method, host, path, version, operation_id)
SELECT DISTINCT method, host, path, version, operation_id
FROM api_requests;

INSERT INTO request_log (id, window_id, ts_us, response_code, source_id, endpoint_id, query_string)
SELECT r.rowid,
       r.window_id,
       unixepoch(substr(r.ts, 1, 19)) * 1000000 + CAST(substr(r.ts, 21, 6) AS INTEGER),
       r.response_code,
       s.id,
       e.id,
       r.query_string
FROM api_requests AS r
JOIN request_sources AS s
  ON s.user_agent IS r.user_agent AND s.admin_id IS r.admin_id AND s.source_ip IS r.source_ip
 AND s.client_id IS r.client_id AND s.client_type IS r.client_type
JOIN request_endpoints AS e
  ON e.path IS r.path AND e.method IS r.method AND e.host IS r.host
 AND e.version IS r.version AND e.operation_id IS r.operation_id
ORDER BY r.rowid;

DROP VIEW unfiltered_api_requests;
DROP TABLE api_requests;

-- Built after the rows moved: faster than keeping it up to date row by row. The only index of the
-- big table, since each costs space and ingest time on every row: it serves ON DELETE CASCADE when
-- a window is replaced, and every read of a time range (the windows of the organization that
-- overlap it, then each window's rows by time). Per-consumer reads scan a time range.
CREATE INDEX request_log_by_window ON request_log (window_id, ts_us);

-- Every request with its strings and its id (the storage order): what `api_requests` and the
-- export read.
CREATE VIEW api_request_rows AS
SELECT r.id,
       r.ts_us,
       r.window_id,
       w.org_id,
       strftime('%Y-%m-%dT%H:%M:%S', r.ts_us / 1000000, 'unixepoch')
           || printf('.%06dZ', r.ts_us % 1000000) AS ts,
       s.admin_id,
       e.method,
       e.host,
       e.path,
       r.query_string,
       s.user_agent,
       r.response_code,
       s.source_ip,
       e.version,
       e.operation_id,
       s.client_id,
       s.client_type
FROM request_log AS r
JOIN collection_windows AS w ON w.id = r.window_id
JOIN request_sources AS s ON s.id = r.source_id
JOIN request_endpoints AS e ON e.id = r.endpoint_id;

-- The per-request log with the columns of schema 3's table, then `rowid`: a view has no rowid of
-- its own, and `ORDER BY rowid` (the storage order) worked on the table. The migrated rows kept
-- their rowids.
CREATE VIEW api_requests AS
SELECT window_id, org_id, ts, admin_id, method, host, path, query_string, user_agent,
       response_code, source_ip, version, operation_id, client_id, client_type, id AS rowid
FROM api_request_rows;

-- As in schema 1: the log of unfiltered windows, each request at most once.
CREATE VIEW unfiltered_api_requests AS
SELECT r.window_id, r.org_id, r.ts, r.admin_id, r.method, r.host, r.path, r.query_string,
       r.user_agent, r.response_code, r.source_ip, r.version, r.operation_id, r.client_id,
       r.client_type
FROM api_request_rows AS r
JOIN collection_windows AS w ON w.id = r.window_id
WHERE w.filter_kind = 'none';
