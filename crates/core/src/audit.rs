//! The tamper-evident audit log. Every entry commits to the previous entry's hash and to its own
//! canonical content (`hash = SHA-256(prev_hash "\n" canonical_json)`), so editing, deleting or
//! reordering any entry breaks the chain at a place `verify` names. SQL triggers refuse UPDATE and
//! DELETE, which stops accidents; the chain is what catches a determined edit of the file.
//!
//! Truncating the newest entries keeps the remaining chain valid, so the newest `(seq, hash)` is
//! also kept outside the database (the console stores it in the OS keyring) and `verify` checks the
//! log still reaches it.

use std::io::Write;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{self, Store};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("cannot write the audit export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(store::Error::Sql(e))
    }
}

/// What is being recorded; `seq`, time and hashes are added by [`append`].
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: String,
    pub action: String,
    pub profile: Option<String>,
    pub target: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub profile: Option<String>,
    pub target: Option<String>,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The newest entry's position, kept outside the database as the chain's anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Problem {
    /// The entry's content does not match its hash: it was edited.
    Edited { seq: i64 },
    /// The entry does not point at the one before it: entries were deleted, inserted or reordered.
    BrokenLink { seq: i64, expected_prev: String },
    /// A gap in the sequence numbers: entries were deleted.
    Missing { after_seq: i64, next_seq: i64 },
    /// The log ends before the anchored head: the newest entries were removed.
    Truncated { anchored_seq: i64, last_seq: i64 },
    /// The entry at the anchored position has another hash.
    HeadMismatch { seq: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub entries: i64,
    pub ok: bool,
    /// Every problem found, in log order (verification does not stop at the first).
    pub problems: Vec<Problem>,
}

/// Content that the hash commits to, with object keys sorted so the bytes do not depend on any
/// map implementation.
fn canonical(seq: i64, at_ms: i64, e: &NewEntry) -> String {
    let v = serde_json::json!({
        "seq": seq,
        "at_ms": at_ms,
        "actor": e.actor,
        "action": e.action,
        "profile": e.profile,
        "target": e.target,
        "detail": e.detail,
    });
    let mut out = String::new();
    write_sorted(&v, &mut out);
    out
}

fn write_sorted(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(*k) {
                    write_sorted(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn chain_hash(prev: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Appends one entry. Serialized with `BEGIN IMMEDIATE`, so concurrent writers (the app and the
/// CLI) cannot fork the chain.
pub async fn append(store: &Store, entry: NewEntry) -> Result<Entry, Error> {
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await?;
    let last: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let at_ms = store::now_ms();
    let hash = chain_hash(&prev_hash, &canonical(seq, at_ms, &entry));
    sqlx::query(
        "INSERT INTO audit (seq, at_ms, actor, action, profile, target, detail, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(at_ms)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.profile)
    .bind(&entry.target)
    .bind(entry.detail.to_string())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Entry {
        seq,
        at: ms_to_utc(at_ms),
        actor: entry.actor,
        action: entry.action,
        profile: entry.profile,
        target: entry.target,
        detail: entry.detail,
        prev_hash,
        hash,
    })
}

type Row = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

fn row_to_entry(r: Row) -> Entry {
    let (seq, at_ms, actor, action, profile, target, detail, prev_hash, hash) = r;
    Entry {
        seq,
        at: ms_to_utc(at_ms),
        actor,
        action,
        profile,
        target,
        // A detail that is not JSON any more is kept as a string; verify reports the edit.
        detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        prev_hash,
        hash,
    }
}

fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

const SELECT: &str = "SELECT seq, at_ms, actor, action, profile, target, detail, prev_hash, hash FROM audit";

/// The newest `limit` entries, newest first.
pub async fn recent(store: &Store, limit: i64) -> Result<Vec<Entry>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY seq DESC LIMIT ?"))
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
    Ok(rows.into_iter().map(row_to_entry).collect())
}

/// The newest `limit` entries about any of `targets` in `profile`, newest first.
pub async fn about(
    store: &Store,
    profile: &str,
    targets: &[String],
    limit: i64,
) -> Result<Vec<Entry>, Error> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(targets).unwrap_or_else(|_| "[]".into());
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE profile = ? AND target IN (SELECT value FROM json_each(?)) ORDER BY seq DESC LIMIT ?"
    ))
    .bind(profile)
    .bind(list)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().map(row_to_entry).collect())
}

pub async fn head(store: &Store) -> Result<Option<Head>, Error> {
    let last: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(last.map(|(seq, hash)| Head { seq, hash }))
}

/// Re-computes the whole chain in `seq` order. `anchor` is the head recorded outside the
/// database, if there is one.
pub async fn verify(store: &Store, anchor: Option<&Head>) -> Result<Verification, Error> {
    use futures::TryStreamExt;
    let sql = format!("{SELECT} ORDER BY seq");
    let mut rows = sqlx::query_as::<_, Row>(&sql).fetch(store.pool());
    let mut problems = Vec::new();
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0i64;
    let mut entries = 0i64;
    let mut anchored_hash_seen: Option<String> = None;
    while let Some((seq, at_ms, actor, action, profile, target, detail, stored_prev, hash)) =
        rows.try_next().await?
    {
        entries += 1;
        if seq != prev_seq + 1 {
            problems.push(Problem::Missing {
                after_seq: prev_seq,
                next_seq: seq,
            });
        }
        if stored_prev != prev_hash {
            problems.push(Problem::BrokenLink {
                seq,
                expected_prev: prev_hash.clone(),
            });
        }
        let detail_value: Value = serde_json::from_str(&detail).unwrap_or(Value::String(detail));
        let entry = NewEntry {
            actor,
            action,
            profile,
            target,
            detail: detail_value,
        };
        if chain_hash(&stored_prev, &canonical(seq, at_ms, &entry)) != hash {
            problems.push(Problem::Edited { seq });
        }
        if anchor.is_some_and(|a| a.seq == seq) {
            anchored_hash_seen = Some(hash.clone());
        }
        prev_hash = hash;
        prev_seq = seq;
    }
    if let Some(a) = anchor {
        match anchored_hash_seen {
            None => problems.push(Problem::Truncated {
                anchored_seq: a.seq,
                last_seq: prev_seq,
            }),
            Some(h) if h != a.hash => problems.push(Problem::HeadMismatch { seq: a.seq }),
            Some(_) => {}
        }
    }
    Ok(Verification {
        entries,
        ok: problems.is_empty(),
        problems,
    })
}

/// Writes every entry as one JSON object per line, oldest first.
pub async fn export_jsonl(store: &Store, out: &mut dyn Write) -> Result<i64, Error> {
    use futures::TryStreamExt;
    let sql = format!("{SELECT} ORDER BY seq");
    let mut rows = sqlx::query_as::<_, Row>(&sql).fetch(store.pool());
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        let line =
            serde_json::to_string(&row_to_entry(row)).map_err(|e| std::io::Error::other(e.to_string()))?;
        writeln!(out, "{line}")?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, target: &str) -> NewEntry {
        NewEntry {
            actor: "analyst@test".into(),
            action: action.into(),
            profile: Some("demo".into()),
            target: Some(target.into()),
            detail: json!({"b": 1, "a": [2, {"d": null, "c": "x"}]}),
        }
    }

    async fn log_of(n: usize) -> Store {
        let store = Store::in_memory().await.unwrap();
        for i in 0..n {
            append(&store, entry("revoke_session", &format!("s-{i}")))
                .await
                .unwrap();
        }
        store
    }

    /// Tampering goes around the triggers, as someone editing the file would.
    async fn tamper(store: &Store, sql: &str) {
        sqlx::query("DROP TRIGGER audit_no_update")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER audit_no_delete")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let c = canonical(1, 5, &entry("x", "t"));
        assert_eq!(
            c,
            r#"{"action":"x","actor":"analyst@test","at_ms":5,"detail":{"a":[2,{"c":"x","d":null}],"b":1},"profile":"demo","seq":1,"target":"t"}"#
        );
    }

    #[tokio::test]
    async fn a_fresh_chain_verifies_and_links() {
        let store = log_of(5).await;
        let v = verify(&store, head(&store).await.unwrap().as_ref())
            .await
            .unwrap();
        assert_eq!(
            v,
            Verification {
                entries: 5,
                ok: true,
                problems: vec![]
            }
        );
        let recent = recent(&store, 2).await.unwrap();
        assert_eq!(recent[0].seq, 5);
        assert_eq!(recent[0].prev_hash, recent[1].hash);
    }

    #[tokio::test]
    async fn sql_updates_and_deletes_are_refused() {
        let store = log_of(2).await;
        assert!(
            sqlx::query("UPDATE audit SET actor = 'x'")
                .execute(store.pool())
                .await
                .is_err()
        );
        assert!(
            sqlx::query("DELETE FROM audit")
                .execute(store.pool())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_edit_is_found_at_its_entry() {
        let store = log_of(5).await;
        tamper(&store, "UPDATE audit SET target = 's-evil' WHERE seq = 3").await;
        let v = verify(&store, None).await.unwrap();
        assert!(!v.ok);
        assert_eq!(v.problems, vec![Problem::Edited { seq: 3 }]);
    }

    #[tokio::test]
    async fn a_deletion_is_found_where_the_gap_is() {
        let store = log_of(5).await;
        tamper(&store, "DELETE FROM audit WHERE seq = 2").await;
        let v = verify(&store, None).await.unwrap();
        assert!(v.problems.contains(&Problem::Missing {
            after_seq: 1,
            next_seq: 3
        }));
        assert!(
            v.problems
                .iter()
                .any(|p| matches!(p, Problem::BrokenLink { seq: 3, .. }))
        );
    }

    #[tokio::test]
    async fn a_reordering_is_found() {
        let store = log_of(4).await;
        // Swap the contents of entries 2 and 3 (keeping their seq numbers).
        tamper(
            &store,
            "UPDATE audit SET target = CASE seq WHEN 2 THEN 's-2' WHEN 3 THEN 's-1' END,
                              hash = CASE seq WHEN 2 THEN (SELECT hash FROM audit WHERE seq = 3)
                                              WHEN 3 THEN (SELECT hash FROM audit WHERE seq = 2) END,
                              prev_hash = CASE seq WHEN 2 THEN (SELECT prev_hash FROM audit WHERE seq = 3)
                                                   WHEN 3 THEN (SELECT prev_hash FROM audit WHERE seq = 2) END
             WHERE seq IN (2, 3)",
        )
        .await;
        let v = verify(&store, None).await.unwrap();
        assert!(!v.ok);
        assert!(
            v.problems
                .iter()
                .any(|p| matches!(p, Problem::BrokenLink { seq: 2, .. }))
        );
    }

    #[tokio::test]
    async fn truncating_the_newest_entries_is_found_through_the_anchor() {
        let store = log_of(5).await;
        let anchor = head(&store).await.unwrap().unwrap();
        tamper(&store, "DELETE FROM audit WHERE seq >= 4").await;
        let v = verify(&store, Some(&anchor)).await.unwrap();
        assert_eq!(
            v.problems,
            vec![Problem::Truncated {
                anchored_seq: 5,
                last_seq: 3
            }]
        );
        // Without the anchor the shortened chain looks intact: that is why the anchor exists.
        assert!(verify(&store, None).await.unwrap().ok);
    }

    #[tokio::test]
    async fn export_writes_one_json_line_per_entry() {
        let store = log_of(3).await;
        let mut buf = Vec::new();
        assert_eq!(export_jsonl(&store, &mut buf).await.unwrap(), 3);
        let lines: Vec<Value> = String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["seq"], 3);
        assert_eq!(lines[2]["prevHash"], lines[1]["hash"]);
    }
}

/// The audit log with its anchor: every append also records the new head in the OS keyring, and
/// verification checks the chain still reaches that head.
#[derive(Clone)]
pub struct Log {
    store: Store,
    anchor: Option<std::sync::Arc<dyn crate::secrets::SecretStore>>,
}

/// Before anchors were per store, one entry held the head of whichever store wrote last.
const LEGACY_ANCHOR_NAME: &str = "audit/head";

impl Log {
    pub fn new(store: Store, anchor: Option<std::sync::Arc<dyn crate::secrets::SecretStore>>) -> Log {
        Log { store, anchor }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keyring entry holding this store's head: one per store, so two stores (a demo and a
    /// production folder) never overwrite each other's anchor.
    fn anchor_name(&self) -> Result<crate::secrets::SecretName, crate::secrets::Error> {
        crate::secrets::SecretName::new(format!("audit/head/{}", self.store.id()))
    }

    pub async fn append(&self, entry: NewEntry) -> Result<Entry, Error> {
        let e = append(&self.store, entry).await?;
        if let Some(secrets) = &self.anchor {
            let head = Head {
                seq: e.seq,
                hash: e.hash.clone(),
            };
            // Anchoring is best effort: a failure is logged and shows up as an anchor mismatch
            // on the next verification, it does not lose the entry.
            let stored = self.anchor_name().and_then(|name| {
                let text = serde_json::to_string(&head).unwrap_or_default();
                secrets.put(&name, &crate::secrets::Sensitive::new(text))
            });
            if let Err(err) = stored {
                tracing::warn!(error = %err, "could not anchor the audit head in the keyring");
            }
        }
        Ok(e)
    }

    pub fn anchored_head(&self) -> Option<Head> {
        let secrets = self.anchor.as_ref()?;
        let name = self.anchor_name().ok()?;
        let value = match secrets.get(&name).ok()? {
            Some(v) => v,
            None => secrets
                .get(&crate::secrets::SecretName::new(LEGACY_ANCHOR_NAME).ok()?)
                .ok()??,
        };
        serde_json::from_str(value.expose()).ok()
    }

    pub async fn verify(&self) -> Result<Verification, Error> {
        verify(&self.store, self.anchored_head().as_ref()).await
    }
}
