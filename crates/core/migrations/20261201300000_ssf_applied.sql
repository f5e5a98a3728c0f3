-- What each received SET changed here (ssf/apply.rs): the user and sessions it named, as JSON.
ALTER TABLE ssf_received ADD COLUMN applied TEXT;
