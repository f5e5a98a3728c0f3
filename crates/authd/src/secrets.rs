//! Everything that touches secret material: random tokens, hashing at rest, passwords.
//!
//! Secrets travel in [`Sensitive`] so a stray `{:?}` in a log line prints `<redacted>`; opaque
//! tokens (refresh, reset, enrollment, recovery codes) are stored only as SHA-256 digests (they
//! are 256-bit random, so a fast hash is enough), while human passwords and admin client secrets
//! go through Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::config::HashCost;

/// A secret value whose `Debug` is `<redacted>` and which has no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `n` bytes from the OS generator.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("OS random generator failed: {e}"))?;
    Ok(buf)
}

/// A 256-bit random opaque token, `prefix` + base64url, e.g. `rt_…`.
pub fn opaque_token(prefix: &str) -> anyhow::Result<Sensitive<String>> {
    let bytes = random_bytes::<32>()?;
    Ok(Sensitive(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// A random public identifier (session ids, jtis, kids): 128 bits, base64url.
pub fn random_id(prefix: &str) -> anyhow::Result<String> {
    let bytes = random_bytes::<16>()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Hex SHA-256, the at-rest form of opaque tokens.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Argon2id with a configured cost.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    cost: HashCost,
}

impl PasswordHashing {
    pub fn new(cost: HashCost) -> anyhow::Result<Self> {
        // Validate once so hashing later cannot fail on parameters.
        Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Self { cost })
    }

    fn argon2(&self) -> anyhow::Result<Argon2<'static>> {
        let params = Params::new(
            self.cost.memory_kib,
            self.cost.iterations,
            self.cost.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// PHC string (`$argon2id$v=19$m=…`). CPU-heavy: call from `spawn_blocking`.
    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt_bytes = random_bytes::<16>()?;
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt encoding: {e}"))?;
        let hash = self
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
        Ok(hash.to_string())
    }

    /// Checks against a stored PHC string; the cost comes from the string itself.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// [`Self::verify`] on a blocking thread, keeping the runtime responsive.
    pub async fn verify_async(&self, password: Sensitive<String>, phc: String) -> bool {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.verify(password.expose(), &phc))
            .await
            .unwrap_or(false)
    }

    pub async fn hash_async(&self, password: Sensitive<String>) -> anyhow::Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash(password.expose())).await?
    }
}

/// Minimal password rules: long enough, not absurdly long (Argon2 input is bounded anyway).
pub fn check_password_rules(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 12 {
        return Err("password must be at least 12 characters");
    }
    if password.len() > 1024 {
        return Err("password must be at most 1024 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_debug_is_redacted() {
        let s = Sensitive("hunter2hunter2".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn argon2id_round_trip_and_phc_form() {
        let h = PasswordHashing::new(HashCost::INSECURE_FAST).unwrap();
        let phc = h.hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify("correct horse battery", &phc));
        assert!(!h.verify("wrong horse battery", &phc));
        assert!(!h.verify("x", "not a phc string"));
    }

    #[test]
    fn opaque_tokens_are_unique_and_digest_is_hex_sha256() {
        let a = opaque_token("rt_").unwrap();
        let b = opaque_token("rt_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 3 + 43);
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
