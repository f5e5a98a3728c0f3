//! What a verifier accepts. Everything here is configuration chosen by the relying
//! party; nothing is ever taken from the token itself (not even `alg`).

use jsonwebtoken::Algorithm;

/// Size limits, applied before any base64 or JSON parsing, then during it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole compact token, in bytes. Default 8192.
    pub max_token_bytes: usize,
    /// `kid` length in bytes. Default 128.
    pub max_kid_len: usize,
    /// Any single encoded segment, in bytes. Default 8192.
    pub max_segment_bytes: usize,
    /// Nesting of arrays/objects inside the header or claims. Default 16.
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 8192,
            max_kid_len: 128,
            max_segment_bytes: 8192,
            max_json_depth: crate::json::MAX_DEPTH,
        }
    }
}

/// The relying party's rules for one kind of token.
///
/// `Policy::default()` is a template: its `issuer` and `audiences` are empty, and a
/// verifier with an empty issuer or no audience rejects every token (fail closed) rather
/// than skipping the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Exact `iss` (no normalisation: a trailing slash matters).
    pub issuer: String,
    /// The token's `aud` (string or array) must contain at least one of these.
    pub audiences: Vec<String>,
    /// Pinned allow-list. The token's `alg` must be in it *and* equal the key's algorithm.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 60.
    pub leeway_secs: u64,
    /// Upper bound on `exp - iat` (or `exp - now` when `iat` is absent). Default 24 h.
    pub max_lifetime_secs: Option<u64>,
    /// Reject an `iat` later than `now + leeway`. Default true. RFC 7519 does not require
    /// it; [`crate::lint`] reports it either way.
    pub reject_future_iat: bool,
    /// Claims that must be present (`exp` is always required). Default exp, iat, sub, jti.
    pub require_claims: Vec<&'static str>,
    pub limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audiences: Vec::new(),
            algorithms: vec![Algorithm::EdDSA],
            leeway_secs: 60,
            max_lifetime_secs: Some(24 * 60 * 60),
            reject_future_iat: true,
            require_claims: vec!["exp", "iat", "sub", "jti"],
            limits: Limits::default(),
        }
    }
}

impl Policy {
    /// A policy with the strict defaults for this issuer, audience and algorithms.
    pub fn new(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = impl Into<String>>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: algorithms.into_iter().collect(),
            ..Self::default()
        }
    }
}
