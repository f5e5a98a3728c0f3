-- The console's local store. Times are unix milliseconds (UTC) in columns ending in _ms.
-- Landed migrations are never edited: add a new timestamped file instead.

-- Users and sessions as last seen at each backend profile.
CREATE TABLE users (
    profile TEXT NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    status TEXT NOT NULL,
    synced_at_ms INTEGER NOT NULL,
    PRIMARY KEY (profile, id)
) WITHOUT ROWID;

CREATE TABLE sessions (
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
    synced_at_ms INTEGER NOT NULL,
    PRIMARY KEY (profile, id)
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (profile, user_id);

-- Request activity, keyed by the backend's own event id so a re-sync never duplicates.
CREATE TABLE activity (
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
    sensitive INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (profile, event_id)
) WITHOUT ROWID;
CREATE INDEX activity_by_session ON activity (profile, session_id, at_ms);
CREATE INDEX activity_by_time ON activity (at_ms);

-- Where each incremental sync stream stopped.
CREATE TABLE sync_state (
    profile TEXT NOT NULL,
    stream TEXT NOT NULL,
    cursor TEXT,
    synced_at_ms INTEGER NOT NULL,
    PRIMARY KEY (profile, stream)
) WITHOUT ROWID;

-- Containment actions. The id is the idempotency key: an action is written as 'pending' before
-- the backend is called and moved to a final state after, so a crash in between is visible and
-- a retry resumes the same action instead of acting twice.
CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT
);
CREATE INDEX actions_by_target ON actions (profile, kind, target);

-- Append-only, hash-chained audit log (see audit.rs). Triggers refuse updates and deletes
-- through SQL; the hash chain (anchored outside the database) catches everything else.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    profile TEXT,
    target TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
