//! The one module over the OS keyring (Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows). Admin credentials and signing keys live only there: never in the config,
//! the local store, logs or error messages. Values travel wrapped in [`Sensitive`], whose `Debug`
//! and `Display` print `<redacted>` and which has no `Serialize`, so a secret cannot reach a log
//! line or the webview by accident.
//!
//! Entries are namespaced per build (`gatehouse-dev`, `gatehouse-test`, `gatehouse-release`) so a
//! test run or a debug build never reads or overwrites the analyst's real credentials.

use std::fmt;

use serde::Serialize;
use zeroize::Zeroize;

use crate::ErrorKind;

/// A value that must never be printed, logged or serialized. Zeroed when dropped.
pub struct Sensitive<T: Zeroize>(T);

impl<T: Zeroize> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The only way to read the value; grep for it when auditing where secrets go.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Sensitive<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Which set of keyring entries this build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    Dev,
    Test,
    Release,
}

impl Namespace {
    /// `GATEHOUSE_KEYRING_NAMESPACE` (`dev`, `test` or `release`) when set; otherwise `dev` for
    /// debug builds and `release` for release builds.
    pub fn current() -> Result<Self, Error> {
        match std::env::var("GATEHOUSE_KEYRING_NAMESPACE") {
            Ok(v) if !v.is_empty() => Self::parse(&v),
            _ if cfg!(debug_assertions) => Ok(Self::Dev),
            _ => Ok(Self::Release),
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "dev" => Ok(Self::Dev),
            "test" => Ok(Self::Test),
            "release" => Ok(Self::Release),
            other => Err(Error::InvalidNamespace(other.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Release => "release",
        }
    }

    /// The keyring "service" attribute that every Gatehouse entry of this namespace carries.
    pub fn service(self) -> String {
        format!("gatehouse-{}", self.as_str())
    }
}

/// The name of one secret inside a namespace, e.g. `profile/demo/client-secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName(String);

impl SecretName {
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 200
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@'));
        if ok {
            Ok(Self(name))
        } else {
            Err(Error::InvalidName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the OS keyring is not reachable ({backend}): {detail}")]
    Unreachable { backend: &'static str, detail: String },
    #[error("the OS keyring refused access ({backend}): {detail}")]
    Denied { backend: &'static str, detail: String },
    #[error("the keyring entry is not valid UTF-8 text")]
    BadEncoding,
    #[error("secret names use 1 to 200 of the characters A-Z a-z 0-9 - _ . / : @")]
    InvalidName,
    #[error("unknown keyring namespace {0:?} (expected dev, test or release)")]
    InvalidNamespace(String),
    #[error("the keyring rejected the entry: {0}")]
    Rejected(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unreachable { .. } => ErrorKind::Upstream,
            Error::Denied { .. } => ErrorKind::Unauthorized,
            Error::BadEncoding | Error::Rejected(_) => ErrorKind::Upstream,
            Error::InvalidName | Error::InvalidNamespace(_) => ErrorKind::Validation,
        }
    }
}

/// What the status screen shows about the keyring.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct KeyringHealth {
    /// Human name of the platform store in use, e.g. "Secret Service (D-Bus)".
    pub backend: String,
    pub namespace: Namespace,
    pub reachable: bool,
    /// Why it is not reachable, when it is not.
    pub detail: Option<String>,
}

/// Where secrets are kept. The app and the CLI use [`KeyringStore`]; unit tests elsewhere in the
/// core use [`MemoryStore`].
pub trait SecretStore: Send + Sync {
    fn put(&self, name: &SecretName, value: &Sensitive<String>) -> Result<(), Error>;
    fn get(&self, name: &SecretName) -> Result<Option<Sensitive<String>>, Error>;
    /// Returns whether an entry existed.
    fn delete(&self, name: &SecretName) -> Result<bool, Error>;
    fn health(&self) -> KeyringHealth;
}

/// The platform keyring through the `keyring` crate.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    namespace: Namespace,
}

/// The platform store the `keyring` crate is built with. Naming it here (rather than trusting
/// the crate's default) matters: without a platform feature keyring 3 silently falls back to an
/// in-memory mock, and the integration tests prove that did not happen.
pub const PLATFORM_BACKEND: &str = if cfg!(target_os = "macos") {
    "macOS Keychain"
} else if cfg!(target_os = "windows") {
    "Windows Credential Manager"
} else {
    "Secret Service (D-Bus)"
};

const PROBE_NAME: &str = "gatehouse-probe";

impl KeyringStore {
    pub fn new(namespace: Namespace) -> Self {
        Self { namespace }
    }

    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, Error> {
        keyring::Entry::new(&self.namespace.service(), name).map_err(map_keyring_error)
    }
}

fn map_keyring_error(e: keyring::Error) -> Error {
    match e {
        keyring::Error::NoStorageAccess(inner) => Error::Denied {
            backend: PLATFORM_BACKEND,
            detail: inner.to_string(),
        },
        keyring::Error::PlatformFailure(inner) => Error::Unreachable {
            backend: PLATFORM_BACKEND,
            detail: inner.to_string(),
        },
        // The payload of BadEncoding is the secret's bytes: never put it in a message.
        keyring::Error::BadEncoding(_) => Error::BadEncoding,
        keyring::Error::TooLong(attr, max) => Error::Rejected(format!("{attr} is longer than {max}")),
        keyring::Error::Invalid(attr, why) => Error::Rejected(format!("{attr}: {why}")),
        keyring::Error::Ambiguous(_) => Error::Rejected("more than one entry matches".into()),
        other => Error::Unreachable {
            backend: PLATFORM_BACKEND,
            detail: other.to_string(),
        },
    }
}

impl SecretStore for KeyringStore {
    fn put(&self, name: &SecretName, value: &Sensitive<String>) -> Result<(), Error> {
        self.entry(name.as_str())?
            .set_password(value.expose())
            .map_err(map_keyring_error)
    }

    fn get(&self, name: &SecretName) -> Result<Option<Sensitive<String>>, Error> {
        match self.entry(name.as_str())?.get_password() {
            Ok(v) => Ok(Some(Sensitive::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn delete(&self, name: &SecretName) -> Result<bool, Error> {
        match self.entry(name.as_str())?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    /// Looks up an entry that never exists: "not found" proves the store answered.
    fn health(&self) -> KeyringHealth {
        let result = self.entry(PROBE_NAME).and_then(|e| match e.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        });
        KeyringHealth {
            backend: PLATFORM_BACKEND.to_string(),
            namespace: self.namespace,
            reachable: result.is_ok(),
            detail: result.err().map(|e| e.to_string()),
        }
    }
}

/// An in-process store for unit tests of code that needs a [`SecretStore`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        // A poisoned lock only means another test thread panicked; the map is still usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn put(&self, name: &SecretName, value: &Sensitive<String>) -> Result<(), Error> {
        self.lock()
            .insert(name.as_str().to_string(), value.expose().clone());
        Ok(())
    }

    fn get(&self, name: &SecretName) -> Result<Option<Sensitive<String>>, Error> {
        Ok(self.lock().get(name.as_str()).cloned().map(Sensitive::new))
    }

    fn delete(&self, name: &SecretName) -> Result<bool, Error> {
        Ok(self.lock().remove(name.as_str()).is_some())
    }

    fn health(&self) -> KeyringHealth {
        KeyringHealth {
            backend: "in-memory (tests only)".to_string(),
            namespace: Namespace::Test,
            reachable: true,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints_its_value() {
        let s = Sensitive::new("hunter2-super-secret".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2-super-secret");
    }

    #[test]
    fn namespaces_map_to_distinct_services() {
        let services: Vec<_> = [Namespace::Dev, Namespace::Test, Namespace::Release]
            .iter()
            .map(|n| n.service())
            .collect();
        assert_eq!(services, ["gatehouse-dev", "gatehouse-test", "gatehouse-release"]);
        assert_eq!(Namespace::parse("test").unwrap(), Namespace::Test);
        assert!(matches!(
            Namespace::parse("prod"),
            Err(Error::InvalidNamespace(_))
        ));
    }

    #[test]
    fn secret_names_are_validated() {
        assert!(SecretName::new("profile/demo/client-secret").is_ok());
        assert!(SecretName::new("").is_err());
        assert!(SecretName::new("a b").is_err());
        assert!(SecretName::new("x".repeat(201)).is_err());
        assert!(SecretName::new("name\u{0}").is_err());
    }

    #[test]
    fn bad_encoding_error_does_not_carry_the_bytes() {
        let e = map_keyring_error(keyring::Error::BadEncoding(b"topsecret\xff".to_vec()));
        assert!(!format!("{e} {e:?}").contains("topsecret"));
        assert_eq!(e.kind(), ErrorKind::Upstream);
    }

    #[test]
    fn memory_store_round_trips() {
        let store = MemoryStore::default();
        let name = SecretName::new("t/one").unwrap();
        assert!(store.get(&name).unwrap().is_none());
        store.put(&name, &Sensitive::new("v".to_string())).unwrap();
        assert_eq!(store.get(&name).unwrap().unwrap().expose(), "v");
        assert!(store.delete(&name).unwrap());
        assert!(!store.delete(&name).unwrap());
    }
}
