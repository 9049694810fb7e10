-- callbudget schema: notifications at least once across crashes (issue 30). Before an audit's
-- news is posted to webhooks, its window is marked here "to announce"; the mark goes only once a
-- webhook took the news. An audit whose window is still marked is no baseline for the next run's
-- news, so news that reached nobody — every webhook down, or the process killed while posting —
-- is said again by the next audit. Replaces schema 2's mark in the audit's summary
-- (`notification: not_delivered`, set only after a delivery had failed).
CREATE TABLE pending_announcements (
    org_id    TEXT NOT NULL,
    -- The audited window, as in `audits` (its audit may not be saved yet: the mark comes first).
    t0        TEXT NOT NULL,
    t1        TEXT NOT NULL,
    marked_at TEXT NOT NULL,
    PRIMARY KEY (org_id, t0, t1),
    CHECK (t0 < t1)
) WITHOUT ROWID;

-- The old marks become pending announcements.
INSERT OR IGNORE INTO pending_announcements (org_id, t0, t1, marked_at)
SELECT org_id, t0, t1, created_at FROM audits
 WHERE json_valid(summary) AND json_extract(summary, '$.notification') = 'not_delivered';
