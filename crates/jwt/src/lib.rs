//! Strict JWT/JWS handling for Gatehouse: the one place token checks live.
//!
//! Three consumers share it (authd mints and checks its tokens, the resource-server
//! guard verifies them, the console inspects stolen ones) because every JWT library
//! bug class we care about — `alg: none`, RSA keys reused as HMAC secrets, header-chosen
//! keys (`jku`/`jwk`), ignored `crit`, string-typed `exp` (CVE-2026-25537), psychic ECDSA
//! signatures, duplicate JSON members, lenient base64 — comes from one copy of the rules
//! drifting from another. `jsonwebtoken` provides the signature primitives; parsing,
//! header rules, key binding and claim validation are done here, because it does not
//! enforce `crit`, leaves `nbf` unchecked by default and accepts huge `kid`/`exp`.
//!
//! * [`Verifier::verify`] — full JWT verification under a [`Policy`] and a [`KeySet`],
//!   with the clock injected. [`Verifier::verify_signature`] is the JWS layer alone.
//! * [`access`] — the access-token profile (required claims, `sid`) authd and the guard share.
//! * [`Signer`] — Ed25519 token minting for authd.
//! * [`decode_unverified`] and [`lint`] — the inspector's view of an untrusted token.
//!
//! Nothing here logs or prints; rejection details never contain the token or key bytes.

pub mod access;
mod b64;
mod json;
mod keys;
mod lint;
mod policy;
mod reject;
mod sign;
mod verify;

pub use jsonwebtoken::{Algorithm, DecodingKey};
pub use keys::{KeyError, KeySet, MAX_JWKS_BYTES, MAX_RSA_BITS, MIN_RSA_BITS};
pub use lint::{DEFAULT_LINT_MAX_LIFETIME_SECS, Lint, Severity, lint};
pub use policy::{Limits, Policy};
pub use reject::{RejectReason, Rejection};
pub use sign::{SignError, Signer};
pub use verify::{
    Decoded, Header, MAX_NUMERIC_DATE, RegisteredClaims, Verified, VerifiedJws, Verifier, decode_unverified,
};

#[cfg(test)]
mod tests;
