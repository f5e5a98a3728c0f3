//! Standard OAuth 2.0 calls that work with any compliant authorization server, beside the
//! vendor admin APIs: RFC 7662 introspection, to verify that a captured token is inactive after
//! containment (the only way to see a JWT's revocation before its `exp`), and RFC 7009
//! revocation, for tokens the console's own client may revoke (servers refuse other clients'
//! tokens). Client credentials (RFC 6749 §4.4) and discovery (OIDC / RFC 8414) complete it.
//!
//! Tokens go in and out as [`Sensitive`]: an introspection result carries the token's claims,
//! never the token.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::backend::vendor;
use crate::backend::{Error, Result};
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

/// Where the authorization server takes each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub token: Option<Url>,
    pub introspection: Option<Url>,
    pub revocation: Option<Url>,
}

/// How the client authenticates at the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// What the token is, when the caller knows (RFC 7009 §2.1, RFC 7662 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }
}

/// An RFC 7662 introspection response. Only `active` is required; an inactive token says
/// nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub token_type: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub sub: Option<String>,
    /// A string or a list of strings.
    #[serde(default, deserialize_with = "audience")]
    pub aud: Option<Vec<String>>,
    pub iss: Option<String>,
    pub jti: Option<String>,
}

fn audience<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(a)) => Some(
            a.into_iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    })
}

/// A token from the client-credentials grant.
#[derive(Debug)]
pub struct Grant {
    pub access_token: Sensitive<String>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    token_endpoint: Option<Url>,
    introspection_endpoint: Option<Url>,
    revocation_endpoint: Option<Url>,
}

/// A confidential OAuth 2.0 client of one authorization server.
pub struct OAuthClient {
    http: HttpClient,
    endpoints: Endpoints,
    client_id: String,
    secret: Sensitive<String>,
    auth: ClientAuth,
}

/// Reads the server's metadata: `/.well-known/openid-configuration`, else RFC 8414's
/// `/.well-known/oauth-authorization-server`.
pub async fn discover(http: &HttpClient, issuer: &Url) -> Result<Endpoints> {
    let base = issuer.as_str().trim_end_matches('/');
    let mut last = None;
    for well_known in ["openid-configuration", "oauth-authorization-server"] {
        let url = format!("{base}/.well-known/{well_known}");
        match http
            .send(Idempotency::Idempotent, || http.request(Method::GET, &url))
            .await
        {
            Ok(resp) => {
                let m: Metadata = vendor::read_json(resp, &format!("GET /.well-known/{well_known}")).await?;
                return Ok(Endpoints {
                    issuer: m.issuer,
                    token: m.token_endpoint,
                    introspection: m.introspection_endpoint,
                    revocation: m.revocation_endpoint,
                });
            }
            Err(e @ http::Error::NotFound { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map(Error::from).unwrap_or_else(|| {
        Error::Http(http::Error::NotFound {
            message: "no metadata".into(),
        })
    }))
}

impl OAuthClient {
    pub fn new(
        http: HttpClient,
        endpoints: Endpoints,
        client_id: impl Into<String>,
        secret: Sensitive<String>,
        auth: ClientAuth,
    ) -> OAuthClient {
        OAuthClient {
            http,
            endpoints,
            client_id: client_id.into(),
            secret,
            auth,
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// POSTs a form to `endpoint` with the client's authentication.
    async fn post(
        &self,
        endpoint: Option<&Url>,
        what: &'static str,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<reqwest::Response> {
        let Some(url) = endpoint else {
            return Err(Error::Unsupported {
                backend: "this authorization server",
                what,
            });
        };
        if self.auth == ClientAuth::Post {
            form.push(("client_id", self.client_id.clone()));
            form.push(("client_secret", self.secret.expose().clone()));
        }
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic =
            (self.auth == ClientAuth::Basic).then(|| (enc(&self.client_id), enc(self.secret.expose())));
        // Introspection and revocation are idempotent (RFC 7009 §2.2: revoking twice is fine).
        let resp = self
            .http
            .send(Idempotency::Idempotent, || {
                let mut req = self
                    .http
                    .request(Method::POST, url.as_str())
                    .header("accept", "application/json")
                    .form(&form);
                if let Some((id, secret)) = &basic {
                    req = req.basic_auth(id, Some(secret));
                }
                req
            })
            .await?;
        Ok(resp)
    }

    /// The client-credentials grant (RFC 6749 §4.4).
    pub async fn client_credentials(&self, scope: Option<&str>) -> Result<Grant> {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if let Some(s) = scope {
            form.push(("scope", s.to_string()));
        }
        let resp = self
            .post(
                self.endpoints.token.as_ref(),
                "issue tokens (no token endpoint)",
                form,
            )
            .await?;
        let t: TokenResponse = vendor::read_json(resp, "POST token endpoint").await?;
        Ok(Grant {
            access_token: Sensitive::new(t.access_token),
            expires_in: t.expires_in,
            scope: t.scope,
        })
    }

    /// RFC 7662: what the server says about `token` now.
    pub async fn introspect(
        &self,
        token: &Sensitive<String>,
        hint: Option<TokenTypeHint>,
    ) -> Result<Introspection> {
        let mut form = vec![("token", token.expose().clone())];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.as_str().to_string()));
        }
        let resp = self
            .post(
                self.endpoints.introspection.as_ref(),
                "introspect tokens (no introspection endpoint)",
                form,
            )
            .await?;
        vendor::read_json(resp, "POST introspection endpoint").await
    }

    /// RFC 7009: asks the server to revoke `token`. A 200 covers unknown tokens too (§2.2); a
    /// server refuses tokens of other clients (400 `invalid_request` or `unauthorized_client`).
    pub async fn revoke(&self, token: &Sensitive<String>, hint: Option<TokenTypeHint>) -> Result<()> {
        let mut form = vec![("token", token.expose().clone())];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.as_str().to_string()));
        }
        self.post(
            self.endpoints.revocation.as_ref(),
            "revoke tokens (no revocation endpoint)",
            form,
        )
        .await
        .map(drop)
    }

    /// Whether the server now treats `token` as inactive: the verification after containment.
    pub async fn verify_inactive(&self, token: &Sensitive<String>) -> Result<bool> {
        Ok(!self.introspect(token, None).await?.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspection_reads_string_and_list_audiences_and_a_bare_inactive_answer() {
        let one: Introspection =
            serde_json::from_str(r#"{"active":true,"aud":"api","exp":1,"client_id":"c","extra":{"x":1}}"#)
                .unwrap();
        assert_eq!(one.aud, Some(vec!["api".to_string()]));
        let many: Introspection = serde_json::from_str(r#"{"active":true,"aud":["a","b"]}"#).unwrap();
        assert_eq!(many.aud.unwrap().len(), 2);
        let off: Introspection = serde_json::from_str(r#"{"active":false}"#).unwrap();
        assert!(!off.active && off.aud.is_none() && off.sub.is_none());
        assert!(serde_json::from_str::<Introspection>(r#"{"scope":"x"}"#).is_err());
    }
}
