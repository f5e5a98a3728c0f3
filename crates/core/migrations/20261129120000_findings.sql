-- Detection results and the analyst's judgement of them (see triage.rs).

-- One row per finding (one incident per session). `body` is the finding as JSON, the
-- `gatehouse analyze --json` contract; the columns repeat what lists sort and filter on.
CREATE TABLE findings (
    profile TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    severity_rank INTEGER NOT NULL,
    score INTEGER NOT NULL,
    detected_at_ms INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (profile, id)
) WITHOUT ROWID;
CREATE INDEX findings_by_rank ON findings (profile, severity_rank DESC, detected_at_ms DESC);
CREATE INDEX findings_by_session ON findings (profile, session_id);

-- The latest verdict per finding (every verdict is also in the audit log).
CREATE TABLE feedback (
    profile TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('true_positive', 'false_positive')),
    note TEXT,
    actor TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (profile, finding_id)
) WITHOUT ROWID;

-- Suppressions made from false positives; `body` is a detect::Suppression as JSON.
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    user_id TEXT NOT NULL,
    body TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX suppressions_by_profile ON suppressions (profile);
