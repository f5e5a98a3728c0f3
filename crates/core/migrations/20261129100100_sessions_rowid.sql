-- Sessions become a rowid table for the same reason as activity (20261129100000): a first sync
-- appends rows instead of splitting pages all over a table ordered by text key, and a re-sync
-- updates rows in place. (profile, id) stays unique, which the sync's upsert relies on.
-- Existing rows are kept.
CREATE TABLE sessions_rowid (
    profile TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    last_seen_at_ms INTEGER,
    expires_at_ms INTEGER,
    ip TEXT,
    user_agent TEXT,
    active INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    synced_at_ms INTEGER NOT NULL
);
INSERT INTO sessions_rowid (profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent,
                            active, revoked_at_ms, synced_at_ms)
SELECT profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent, active, revoked_at_ms,
       synced_at_ms
FROM sessions ORDER BY profile, started_at_ms, id;
DROP TABLE sessions;
ALTER TABLE sessions_rowid RENAME TO sessions;
CREATE UNIQUE INDEX sessions_by_id ON sessions (profile, id);
CREATE INDEX sessions_by_user ON sessions (profile, user_id);
