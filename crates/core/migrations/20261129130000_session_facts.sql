-- What the detector learned about each session from its activity (enriched: place, network,
-- device), so lists can show, sort and filter on it without re-reading the activity.
CREATE TABLE session_facts (
    profile TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    first_at_ms INTEGER NOT NULL,
    last_at_ms INTEGER NOT NULL,
    events INTEGER NOT NULL,
    denied INTEGER NOT NULL,
    last_ip TEXT,
    city TEXT,
    country TEXT,
    lat REAL,
    lon REAL,
    accuracy_km REAL,
    asn INTEGER,
    org TEXT,
    network_class TEXT,
    device TEXT,
    places INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (profile, session_id)
) WITHOUT ROWID;
CREATE INDEX session_facts_by_country ON session_facts (profile, country);
