//! Minting tokens (authd). Ed25519 only: deterministic, small, no parameters to get wrong.

use crate::keys::{KeyError, check_kid};
use crate::{Limits, b64};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer as _, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey};
use zeroize::Zeroizing;

/// Why a token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("claims could not be serialised: {0}")]
    Serialize(String),
    #[error("claims must serialise to a JSON object")]
    NotAnObject,
    #[error("typ must be 1-64 characters of [A-Za-z0-9.+/_-]")]
    BadTyp,
    #[error("signer kid is not usable by verifiers: {0}")]
    BadKid(&'static str),
    #[error("token would be {0} bytes, over the verifier limit")]
    TooLarge(usize),
}

/// An Ed25519 signing key with its kid. `Debug` never shows key material.
#[derive(Clone)]
pub struct Signer {
    kid: String,
    key: SigningKey,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &"EdDSA")
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Signer {
    /// A fresh random key from the OS generator.
    ///
    /// The kid should match `[A-Za-z0-9._:@-]{1,128}`; otherwise [`Signer::sign`] fails
    /// with [`SignError::BadKid`] (verifiers would refuse the tokens anyway).
    pub fn generate_ed25519(kid: impl Into<String>) -> Signer {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_key(kid.into(), key)
    }

    /// A persisted key (PKCS#8 v1 or v2 DER, as produced by [`Signer::pkcs8_der`]).
    pub fn from_ed25519_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> Result<Signer, KeyError> {
        let kid = kid.into();
        check_kid(&kid, Limits::default().max_kid_len).map_err(KeyError::BadKid)?;
        let key = SigningKey::from_pkcs8_der(der).map_err(|_| KeyError::InvalidKeyMaterial {
            kid: kid.clone(),
            why: "not an Ed25519 PKCS#8 private key",
        })?;
        Ok(Self::from_key(kid, key))
    }

    fn from_key(kid: String, key: SigningKey) -> Signer {
        // Encoding a valid 32-byte seed cannot fail; an empty document would only make
        // `from_ed25519_pkcs8_der` refuse it later, never sign with a wrong key.
        let pkcs8 = key
            .to_pkcs8_der()
            .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
            .unwrap_or_default();
        Signer { kid, key, pkcs8 }
    }

    /// The private key as PKCS#8 DER, for persistence. Secret: store it like a password.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }

    /// Raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public JWK for a JWKS document.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64::encode(&self.public_key_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_ed_der(&self.public_key_bytes())
    }

    /// A one-key [`crate::KeySet`] holding this signer's public key.
    pub fn key_set(&self) -> crate::KeySet {
        let mut ks = crate::KeySet::new();
        ks.insert(&self.kid, Algorithm::EdDSA, self.decoding_key());
        ks
    }

    /// Signs with header `{"alg":"EdDSA","kid":..,"typ":"JWT"}`.
    pub fn sign<C: serde::Serialize>(&self, claims: &C) -> Result<String, SignError> {
        self.sign_with_typ(claims, "JWT")
    }

    /// Signs with a custom `typ` (e.g. `secevent+jwt`, `at+jwt`).
    pub fn sign_with_typ<C: serde::Serialize>(&self, claims: &C, typ: &str) -> Result<String, SignError> {
        check_kid(&self.kid, Limits::default().max_kid_len).map_err(SignError::BadKid)?;
        let typ_ok = (1..=64).contains(&typ.len())
            && typ
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'/' | b'_' | b'-'));
        if !typ_ok {
            return Err(SignError::BadTyp);
        }
        let value = serde_json::to_value(claims).map_err(|e| SignError::Serialize(e.to_string()))?;
        if !value.is_object() {
            return Err(SignError::NotAnObject);
        }
        let header = serde_json::json!({ "alg": "EdDSA", "kid": self.kid, "typ": typ });
        let header = serde_json::to_vec(&header).map_err(|e| SignError::Serialize(e.to_string()))?;
        let payload = serde_json::to_vec(&value).map_err(|e| SignError::Serialize(e.to_string()))?;
        let mut token = b64::encode(&header);
        token.push('.');
        token.push_str(&b64::encode(&payload));
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64::encode(&signature.to_bytes()));
        let limit = Limits::default().max_token_bytes;
        if token.len() > limit {
            return Err(SignError::TooLarge(token.len()));
        }
        Ok(token)
    }
}
