-- Initial authd schema. Times are unix seconds unless the column name ends in _ms.
-- Migrations are never edited once landed: add a new timestamped file instead.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    roles TEXT NOT NULL DEFAULT '[]',
    password_hash TEXT NOT NULL,
    password_change_required INTEGER NOT NULL DEFAULT 0,
    mfa_required INTEGER NOT NULL DEFAULT 0,
    totp_secret BLOB,
    totp_pending_secret BLOB,
    totp_last_step INTEGER,
    -- Tokens issued before this instant are revoked (all-sessions revocation).
    not_before INTEGER,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Pre-authentication challenges: password reset and MFA enrollment tokens (hashed).
CREATE TABLE challenges (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'mfa_enrollment')),
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    client_ip TEXT NOT NULL,
    user_agent TEXT,
    amr TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, seq);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    kid TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_session ON access_tokens (session_id, issued_at);
CREATE INDEX access_tokens_by_user ON access_tokens (user_id, expires_at);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_pkcs8 BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    -- Latest exp of any token this key signed: the key stays published until then.
    max_exp INTEGER NOT NULL DEFAULT 0
);

-- The revocation feed. AUTOINCREMENT: cursors are never reused, even after pruning.
CREATE TABLE revocations (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'user')),
    value TEXT NOT NULL,
    not_before INTEGER,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX revocations_by_expiry ON revocations (expires_at);

CREATE TABLE activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    user_id INTEGER,
    session_id TEXT,
    jti TEXT,
    client_ip TEXT NOT NULL,
    user_agent TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    denial_reason TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX activity_by_session ON activity (session_id, id);
CREATE INDEX activity_by_user ON activity (user_id, id);

CREATE TABLE admin_clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    client_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    client_ip TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX projects_by_owner ON projects (owner_id, id);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at INTEGER NOT NULL
);
CREATE INDEX invoices_by_user ON invoices (user_id, id);
