//! Receiving pushed SETs (RFC 8935) from another transmitter (e.g. Okta's): validate them
//! against the transmitter's JWKS and the SSF/CAEP rules in [`super::set`], then record each
//! one in the store (`ssf_received`, idempotent on `iss` + `jti`), apply it to the sessions it
//! names ([`super::apply`], same transaction) and audit it under the session or user it is
//! about, so it appears on their incident timelines. Answers 202, or 400 with an RFC 8935 error.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gatehouse_jwt::{KeySet, MAX_JWKS_BYTES};
use serde::Serialize;
use serde_json::json;

use super::apply::{self, Applied};
use super::set::{self, SetRules, ValidSet};
use super::{Error, RawTransmitter};
use crate::audit::{Log, NewEntry};
use crate::store::now_ms;

/// A SET as stored after it was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedSignal {
    pub iss: String,
    pub jti: String,
    pub event: String,
    pub sub_id: serde_json::Value,
    pub received_at_ms: i64,
    /// Who it named here and what it changed (see [`super::apply`]).
    pub applied: Option<Applied>,
}

/// Largest SET body accepted.
const MAX_SET_BYTES: usize = 16 * 1024;

pub struct Inbox {
    pub log: Log,
    pub profile: String,
    pub rules: SetRules,
}

/// Fetches the transmitter's JWKS into validation rules.
pub async fn rules_for(http: &crate::http::HttpClient, t: &RawTransmitter) -> Result<SetRules, Error> {
    let resp = http
        .send(crate::http::Idempotency::Idempotent, || {
            http.request(reqwest::Method::GET, &t.jwks_url)
        })
        .await?;
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Io(format!("reading the transmitter JWKS: {}", e.without_url())))?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(Error::Config("the transmitter JWKS is too large".into()));
    }
    let keys = KeySet::from_jwks_json(&bytes).map_err(|e| Error::Config(format!("transmitter JWKS: {e}")))?;
    Ok(SetRules {
        issuer: t.issuer.clone(),
        audience: t.audience.clone(),
        keys,
        leeway_secs: 60,
    })
}

impl Inbox {
    /// Validates and records one pushed SET. A repeated `jti` is accepted again (the
    /// transmitter retried) without a second record.
    pub async fn accept(&self, token: &str) -> Result<ValidSet, Error> {
        let v = set::validate(token.trim(), &self.rules, chrono::Utc::now().timestamp())?;
        let mut tx = self.log.store().pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO ssf_received (iss, jti, profile, event, sub_id, event_json, txn, iat, received_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&v.iss)
        .bind(&v.jti)
        .bind(&self.profile)
        .bind(&v.event_uri)
        .bind(v.subject.to_string())
        .bind(v.event.to_string())
        .bind(&v.txn)
        .bind(v.iat)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            return Ok(v);
        }
        let applied = apply::apply(&mut tx, &self.profile, &v).await?;
        let applied_json = json!(applied);
        sqlx::query("UPDATE ssf_received SET applied = ? WHERE iss = ? AND jti = ?")
            .bind(applied_json.to_string())
            .bind(&v.iss)
            .bind(&v.jti)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.log
            .append(NewEntry {
                actor: format!("ssf:{}", v.iss),
                action: "ssf.received".into(),
                profile: Some(self.profile.clone()),
                target: Some(applied.audit_target(&v.jti)),
                detail: json!({
                    "set": v.jti,
                    "event": v.event_uri,
                    "sub_id": v.subject,
                    "txn": v.txn,
                    "applied": applied_json,
                }),
            })
            .await?;
        Ok(v)
    }

    /// The push endpoint: `POST /` with `Content-Type: application/secevent+jwt`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().route("/", post(push)).with_state(self)
    }
}

fn refuse(err: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "err": err, "description": description })),
    )
        .into_response()
}

async fn push(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let media_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(set::MEDIA_TYPE))
        });
    if !media_ok {
        return refuse("invalid_request", "Content-Type must be application/secevent+jwt");
    }
    if body.len() > MAX_SET_BYTES {
        return refuse("invalid_request", "SET too large");
    }
    let Ok(token) = std::str::from_utf8(&body) else {
        return refuse("invalid_request", "body is not UTF-8");
    };
    match inbox.accept(token).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(Error::Set(e)) => refuse(e.err_code(), &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "recording a received SET failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves the push endpoint on `listener` until `shutdown` resolves.
pub async fn serve(
    inbox: Inbox,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, Arc::new(inbox).router())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Io(e.to_string()))
}

/// The newest received signals of a profile.
pub async fn recent(log: &Log, profile: &str, limit: i64) -> Result<Vec<ReceivedSignal>, Error> {
    let rows: Vec<(String, String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT iss, jti, event, sub_id, received_at_ms, applied FROM ssf_received
         WHERE profile = ? ORDER BY received_at_ms DESC LIMIT ?",
    )
    .bind(profile)
    .bind(limit)
    .fetch_all(log.store().pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(iss, jti, event, sub_id, received_at_ms, applied)| ReceivedSignal {
                iss,
                jti,
                event,
                sub_id: serde_json::from_str(&sub_id).unwrap_or_default(),
                received_at_ms,
                applied: applied.and_then(|a| serde_json::from_str(&a).ok()),
            },
        )
        .collect())
}
