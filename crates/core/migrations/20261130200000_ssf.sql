-- Shared Signals: SETs waiting for (or done with) push delivery, and SETs received.
CREATE TABLE ssf_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    receiver TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    jti TEXT NOT NULL,
    event TEXT NOT NULL,
    set_jwt TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error TEXT,
    created_at_ms INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    UNIQUE (receiver, jti)
);
CREATE INDEX ssf_outbox_due ON ssf_outbox (profile, state, next_attempt_at_ms);

CREATE TABLE ssf_received (
    iss TEXT NOT NULL,
    jti TEXT NOT NULL,
    profile TEXT NOT NULL,
    event TEXT NOT NULL,
    sub_id TEXT NOT NULL,
    event_json TEXT NOT NULL,
    txn TEXT,
    iat INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX ssf_received_by_profile ON ssf_received (profile, received_at_ms);
