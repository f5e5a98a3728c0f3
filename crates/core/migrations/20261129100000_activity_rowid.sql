-- Activity becomes a rowid table. Rows now append at the end of the table in the order they are
-- synced instead of being placed by their text key (profile, event_id), which scattered page
-- splits over the whole table; the backend's event id stays unique per profile through its own
-- index, so a re-sync still never duplicates. Existing rows are kept.
CREATE TABLE activity_rowid (
    profile TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    user_id TEXT,
    session_id TEXT,
    jti TEXT,
    ip TEXT,
    user_agent TEXT,
    method TEXT,
    path TEXT,
    status INTEGER,
    denial_reason TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0
);
INSERT INTO activity_rowid (profile, event_id, at_ms, user_id, session_id, jti, ip, user_agent, method, path,
                            status, denial_reason, sensitive)
SELECT profile, event_id, at_ms, user_id, session_id, jti, ip, user_agent, method, path, status, denial_reason,
       sensitive
FROM activity ORDER BY profile, at_ms, event_id;
DROP TABLE activity;
ALTER TABLE activity_rowid RENAME TO activity;
CREATE UNIQUE INDEX activity_by_event ON activity (profile, event_id);
CREATE INDEX activity_by_session ON activity (profile, session_id, at_ms);
CREATE INDEX activity_by_time ON activity (at_ms);
