-- Incidents (see incident.rs): what an analyst gathered about one compromise, per profile.
-- Members are the affected users and sessions and the findings that started it; the timeline is
-- derived (activity, findings, audit log), never stored twice.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status TEXT NOT NULL CHECK (status IN ('open', 'contained', 'closed')),
    notes TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER
);
CREATE INDEX incidents_by_profile ON incidents (profile, created_at_ms);

CREATE TABLE incident_members (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'session', 'finding')),
    member_id TEXT NOT NULL,
    PRIMARY KEY (incident_id, kind, member_id)
) WITHOUT ROWID;
