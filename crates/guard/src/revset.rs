//! The local copy of authd's revocations: what the guard checks on every request.
//!
//! Three maps keyed like authd's feed (`jti`, `sid`, user `sub` with a not-before), each
//! entry carrying the instant after which every token it covers has expired. Entries are
//! dropped once that instant passes, so the set holds at most the revocations of tokens
//! that could still verify: memory is bounded by issuance, not by history.

use std::collections::HashMap;

use serde::Deserialize;

/// One entry of authd's `/revocations` feed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FeedEntry {
    pub cursor: i64,
    /// `jti`, `sid` or `user` (value is then the user's `sub`).
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub not_before: Option<i64>,
    pub expires_at: i64,
}

/// Why a verified token is refused by the revocation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Token,
    Session,
    User,
}

#[derive(Debug, Default)]
pub(crate) struct RevocationSet {
    jti: HashMap<String, i64>,
    sid: HashMap<String, i64>,
    /// sub → (not_before, expires_at)
    user: HashMap<String, (i64, i64)>,
}

impl RevocationSet {
    /// Applies feed entries; entries already expired at `now` are skipped. Unknown kinds are
    /// counted by the caller (returned), never guessed at.
    pub fn apply(&mut self, entries: &[FeedEntry], now: i64) -> usize {
        let mut unknown = 0;
        for e in entries {
            if e.expires_at < now {
                continue;
            }
            match e.kind.as_str() {
                "jti" => {
                    let slot = self.jti.entry(e.value.clone()).or_insert(e.expires_at);
                    *slot = (*slot).max(e.expires_at);
                }
                "sid" => {
                    let slot = self.sid.entry(e.value.clone()).or_insert(e.expires_at);
                    *slot = (*slot).max(e.expires_at);
                }
                "user" => match e.not_before {
                    Some(nb) => {
                        let slot = self.user.entry(e.value.clone()).or_insert((nb, e.expires_at));
                        *slot = (slot.0.max(nb), slot.1.max(e.expires_at));
                    }
                    None => unknown += 1,
                },
                _ => unknown += 1,
            }
        }
        unknown
    }

    /// O(1): three hash lookups.
    pub fn check(&self, sub: &str, sid: Option<&str>, jti: &str, iat: i64) -> Result<(), Revoked> {
        if let Some(&(nb, _)) = self.user.get(sub)
            && iat < nb
        {
            return Err(Revoked::User);
        }
        if let Some(sid) = sid
            && self.sid.contains_key(sid)
        {
            return Err(Revoked::Session);
        }
        if self.jti.contains_key(jti) {
            return Err(Revoked::Token);
        }
        Ok(())
    }

    /// Drops entries whose tokens have all expired; returns how many went.
    pub fn prune(&mut self, now: i64) -> usize {
        let before = self.len();
        self.jti.retain(|_, exp| *exp >= now);
        self.sid.retain(|_, exp| *exp >= now);
        self.user.retain(|_, (_, exp)| *exp >= now);
        before - self.len()
    }

    pub fn len(&self) -> usize {
        self.jti.len() + self.sid.len() + self.user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(cursor: i64, kind: &str, value: &str, nb: Option<i64>, exp: i64) -> FeedEntry {
        FeedEntry {
            cursor,
            kind: kind.into(),
            value: value.into(),
            not_before: nb,
            expires_at: exp,
        }
    }

    #[test]
    fn each_kind_refuses_with_its_reason() {
        let mut s = RevocationSet::default();
        assert_eq!(s.check("1", Some("s1"), "j1", 100), Ok(()));
        s.apply(&[e(1, "jti", "j1", None, 1000)], 0);
        assert_eq!(s.check("1", Some("s1"), "j1", 100), Err(Revoked::Token));
        s.apply(&[e(2, "sid", "s1", None, 1000)], 0);
        assert_eq!(s.check("1", Some("s1"), "j2", 100), Err(Revoked::Session));
        s.apply(&[e(3, "user", "2", Some(200), 1000)], 0);
        assert_eq!(s.check("2", None, "j9", 199), Err(Revoked::User));
        assert_eq!(s.check("2", None, "j9", 200), Ok(()));
    }

    #[test]
    fn an_older_user_entry_never_lowers_the_not_before() {
        let mut s = RevocationSet::default();
        s.apply(
            &[
                e(1, "user", "5", Some(300), 1000),
                e(2, "user", "5", Some(100), 900),
            ],
            0,
        );
        assert_eq!(s.check("5", None, "j", 250), Err(Revoked::User));
    }

    #[test]
    fn expired_entries_are_skipped_and_pruned_so_memory_stays_bounded() {
        let mut s = RevocationSet::default();
        s.apply(&[e(1, "jti", "old", None, 50)], 100);
        assert_eq!(s.len(), 0);
        for i in 0..1000 {
            s.apply(&[e(i, "jti", &format!("j{i}"), None, 100 + i)], 100);
        }
        assert_eq!(s.len(), 1000);
        assert_eq!(s.prune(600), 500);
        assert_eq!(s.check("1", None, "j499", 0), Ok(()));
        assert_eq!(s.check("1", None, "j500", 0), Err(Revoked::Token));
    }

    #[test]
    fn unknown_kinds_and_user_entries_without_not_before_are_reported_not_applied() {
        let mut s = RevocationSet::default();
        assert_eq!(
            s.apply(
                &[e(1, "device", "d", None, 1000), e(2, "user", "3", None, 1000)],
                0
            ),
            2
        );
        assert_eq!(s.len(), 0);
    }
}
