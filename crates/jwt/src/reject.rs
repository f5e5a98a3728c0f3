//! Why a token was refused. The reason is a closed set the console and the guard branch on;
//! the detail is for humans and logs. Details are built only from fixed text and
//! sanitised, bounded fragments (`fragment`), never from the token or key bytes.

use std::fmt;

/// Closed set of rejection reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Token or one of its segments exceeds [`crate::Limits`]; nothing was parsed.
    TooLarge,
    /// Not a compact JWS with exactly three segments, or a header member has the wrong shape.
    Malformed,
    /// A segment is not strict unpadded base64url.
    BadEncoding,
    /// Header or claims are not a single, duplicate-free JSON object.
    BadJson,
    /// `alg: none` in any spelling.
    AlgNone,
    /// `alg` unknown, not in the policy allow-list, or not the algorithm bound to the key.
    AlgNotAllowed,
    /// No key for this `kid` (or `kid` missing while several keys are configured).
    UnknownKid,
    /// `kid` too long, empty or outside the allowed character set.
    BadKid,
    /// `crit` (or `b64`) present: we understand no extension.
    CritUnsupported,
    /// `jku`, `x5u` or `x5c` in the header: keys are never taken from the token.
    EmbeddedKey,
    /// Signature missing, of the wrong size or not valid for the configured key.
    BadSignature,
    /// `exp` is in the past (beyond leeway).
    Expired,
    /// `nbf` is in the future (beyond leeway).
    NotYetValid,
    /// `iat` is in the future (beyond leeway).
    IssuedInFuture,
    /// `exp - iat` (or `exp - now` without `iat`) exceeds the policy's maximum lifetime.
    LifetimeTooLong,
    /// `iss` is not exactly the expected issuer.
    BadIssuer,
    /// `aud` does not contain an expected audience.
    BadAudience,
    /// A required claim is absent.
    MissingClaim,
    /// A claim has the wrong JSON type or is out of range.
    BadClaimType,
    /// `cty: JWT`: nested tokens are refused.
    NestedToken,
}

impl RejectReason {
    /// Every reason, in declaration order (for exhaustive tests and UI legends).
    pub const ALL: [RejectReason; 20] = [
        Self::TooLarge,
        Self::Malformed,
        Self::BadEncoding,
        Self::BadJson,
        Self::AlgNone,
        Self::AlgNotAllowed,
        Self::UnknownKid,
        Self::BadKid,
        Self::CritUnsupported,
        Self::EmbeddedKey,
        Self::BadSignature,
        Self::Expired,
        Self::NotYetValid,
        Self::IssuedInFuture,
        Self::LifetimeTooLong,
        Self::BadIssuer,
        Self::BadAudience,
        Self::MissingClaim,
        Self::BadClaimType,
        Self::NestedToken,
    ];

    /// The snake_case name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::BadEncoding => "bad_encoding",
            Self::BadJson => "bad_json",
            Self::AlgNone => "alg_none",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::UnknownKid => "unknown_kid",
            Self::BadKid => "bad_kid",
            Self::CritUnsupported => "crit_unsupported",
            Self::EmbeddedKey => "embedded_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::BadIssuer => "bad_issuer",
            Self::BadAudience => "bad_audience",
            Self::MissingClaim => "missing_claim",
            Self::BadClaimType => "bad_claim_type",
            Self::NestedToken => "nested_token",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused token: the reason, and a detail safe to log and show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub(crate) fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Rejection {}

/// A bounded, printable rendering of an attacker-chosen name (an `alg` value, a member
/// name) for a detail message: at most `max` characters of `[A-Za-z0-9._:@+/-]`,
/// anything else replaced by `?`, longer input cut and marked with `…`.
pub(crate) fn fragment(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:@+/-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
