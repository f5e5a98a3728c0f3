//! `/api/*`: the protected resource API, and the guard that makes it a forensic record.
//!
//! The guard verifies the access token with `gatehouse-jwt`, then checks revocation in memory
//! (revoked jti, revoked sid, user not-before, suspended user), then runs the handler. Whatever
//! happens, one activity row is queued with who (when known, even for a revoked token), from
//! where, what, the status and the denial reason. `POST /api/me/...` calls are marked sensitive.

use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::{Client, JsonBody, bearer};
use crate::mfa::{self, Enrollment};
use crate::secrets::{self, Sensitive};
use crate::state::AppState;
use crate::users::{self, UserView};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/settings", post(update_settings))
        .route("/me/password", post(change_password))
        .route("/me/mfa/enroll", post(mfa_enroll))
        .route("/me/mfa/confirm", post(mfa_confirm))
        .route("/projects", get(list_projects))
        .route("/projects/{id}", get(get_project))
        .route("/invoices", get(list_invoices))
        .route("/invoices/{id}", get(get_invoice))
        .fallback(|| async { ApiError::not_found("resource") })
        .layer(middleware::from_fn_with_state(state, guard))
}

/// The authenticated caller of an `/api` request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub sid: Option<String>,
    pub jti: String,
    pub scope: String,
}

impl Principal {
    fn require(&self, scope: &str) -> ApiResult<()> {
        if self.scope.split(' ').any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this call needs scope {scope}"),
            ))
        }
    }
}

/// Token verification then revocation; returns what is known about the caller either way.
pub fn authenticate(
    state: &AppState,
    token: Option<&str>,
    now: i64,
) -> (Option<Principal>, Result<(), ApiError>) {
    let Some(token) = token else {
        return (
            None,
            Err(ApiError::unauthorized(
                "missing_token",
                "a bearer access token is required",
            )),
        );
    };
    let facts = match state.keys.verify_api(token, now) {
        Ok(f) => f,
        Err(r) => {
            return (
                None,
                Err(ApiError::unauthorized(r.reason, "the access token was refused")),
            );
        }
    };
    let Ok(user_id) = facts.sub.parse::<i64>() else {
        return (
            None,
            Err(ApiError::unauthorized("bad_claim_type", "unexpected subject")),
        );
    };
    let principal = Principal {
        user_id,
        sid: facts.sid,
        jti: facts.jti,
        scope: facts.scope,
    };
    let verdict = state
        .revocations
        .check(user_id, principal.sid.as_deref(), &principal.jti, facts.iat)
        .map_err(|d| ApiError::unauthorized(d.as_str(), "the access token was revoked"));
    (Some(principal), verdict)
}

async fn guard(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    mut req: Request,
    next: Next,
) -> Response {
    let at_ms = state.now_ms();
    let method = req.method().clone();
    // Nested under /api, the request URI lost its prefix; the original one has it.
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_owned(), |u| u.0.path().to_owned());
    let (principal, verdict) = authenticate(&state, bearer(req.headers()), at_ms / 1000);
    let mut resp = match verdict {
        Ok(()) => {
            if let Some(p) = &principal {
                req.extensions_mut().insert(p.clone());
            }
            next.run(req).await
        }
        Err(e) => {
            let mut r = e.into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    };
    let status = resp.status();
    let denial_reason = (!status.is_success()).then(|| {
        resp.extensions()
            .get::<ErrorCode>()
            .map(|c| c.0.to_owned())
            .unwrap_or_else(|| format!("http_{}", status.as_u16()))
    });
    state.recorder.record(Activity {
        at_ms,
        user_id: principal.as_ref().map(|p| p.user_id),
        session_id: principal.as_ref().and_then(|p| p.sid.clone()),
        jti: principal.as_ref().map(|p| p.jti.clone()),
        client_ip: client.ip.to_string(),
        user_agent: client.user_agent.clone(),
        method: method.to_string(),
        path: path.clone(),
        status: status.as_u16(),
        denial_reason,
        sensitive: method == Method::POST && path.starts_with("/api/me/"),
    });
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn me(State(state): State<AppState>, Extension(p): Extension<Principal>) -> ApiResult<Json<UserView>> {
    p.require("profile")?;
    let user = users::by_id(&state.db, p.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(user.view()))
}

#[derive(Deserialize)]
struct SettingsRequest {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    settings: Option<serde_json::Map<String, serde_json::Value>>,
}

async fn update_settings(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<SettingsRequest>,
) -> ApiResult<Json<UserView>> {
    p.require("settings")?;
    if let Some(name) = &req.display_name
        && (name.trim().is_empty() || name.len() > 128)
    {
        return Err(ApiError::bad_request("display_name must be 1-128 bytes"));
    }
    let settings = match &req.settings {
        Some(s) => Some(serde_json::to_string(s).map_err(ApiError::internal)?),
        None => None,
    };
    if settings.as_ref().is_some_and(|s| s.len() > 8192) {
        return Err(ApiError::bad_request("settings must serialise to at most 8 KiB"));
    }
    sqlx::query(
        "UPDATE users SET display_name = coalesce(?, display_name), settings = coalesce(?, settings),
         updated_at = ? WHERE id = ?",
    )
    .bind(&req.display_name)
    .bind(settings)
    .bind(state.now())
    .bind(p.user_id)
    .execute(&state.db)
    .await?;
    me(State(state), Extension(p)).await
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
struct Changed {
    changed: bool,
}

async fn change_password(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<PasswordChange>,
) -> ApiResult<Json<Changed>> {
    p.require("settings")?;
    secrets::check_password_rules(&req.new_password)
        .map_err(|m| ApiError::bad_request(m).with_code("weak_password"))?;
    let user = users::by_id(&state.db, p.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let ok = state
        .hashing
        .verify_async(Sensitive(req.current_password), user.password_hash.clone())
        .await;
    if !ok {
        return Err(ApiError::forbidden(
            "invalid_credentials",
            "current password is wrong",
        ));
    }
    users::set_password(&state.db, &state.hashing, p.user_id, Sensitive(req.new_password)).await?;
    tracing::info!(user_id = p.user_id, "password changed by user");
    Ok(Json(Changed { changed: true }))
}

async fn mfa_enroll(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Enrollment>> {
    p.require("settings")?;
    let user = users::by_id(&state.db, p.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(mfa::begin_enrollment(&state.db, &user).await?.0))
}

#[derive(Deserialize)]
struct MfaConfirm {
    code: String,
}

async fn mfa_confirm(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<MfaConfirm>,
) -> ApiResult<Json<super::auth::RecoveryCodes>> {
    p.require("settings")?;
    let user = users::by_id(&state.db, p.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let codes = mfa::confirm_enrollment(&state.db, &user, &req.code, state.now())
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_mfa_code", "the code does not match the pending secret")
        })?;
    Ok(Json(super::auth::RecoveryCodes {
        recovery_codes: codes.0,
    }))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Project {
    id: i64,
    name: String,
    description: String,
    created_at: i64,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    after: Option<i64>,
}

#[derive(Serialize)]
struct Listing<T> {
    items: Vec<T>,
    next_after: Option<i64>,
}

fn page_limit(p: &Page) -> i64 {
    p.limit.unwrap_or(50).clamp(1, 200)
}

async fn list_projects(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Listing<Project>>> {
    p.require("projects")?;
    let limit = page_limit(&page);
    let items = sqlx::query_as::<_, Project>(
        "SELECT id, name, description, created_at FROM projects WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(p.user_id)
    .bind(page.after.unwrap_or(0))
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let next_after = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| i.id))
        .flatten();
    Ok(Json(Listing { items, next_after }))
}

async fn get_project(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Project>> {
    p.require("projects")?;
    // Another user's project is "not found", not "forbidden": ids are not an oracle.
    sqlx::query_as::<_, Project>(
        "SELECT id, name, description, created_at FROM projects WHERE id = ? AND owner_id = ?",
    )
    .bind(id)
    .bind(p.user_id)
    .fetch_optional(&state.db)
    .await?
    .map(Json)
    .ok_or_else(|| ApiError::not_found("project"))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Invoice {
    id: i64,
    number: String,
    amount_cents: i64,
    currency: String,
    status: String,
    issued_at: i64,
}

async fn list_invoices(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Listing<Invoice>>> {
    p.require("invoices")?;
    let limit = page_limit(&page);
    let items = sqlx::query_as::<_, Invoice>(
        "SELECT id, number, amount_cents, currency, status, issued_at FROM invoices
         WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(p.user_id)
    .bind(page.after.unwrap_or(0))
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let next_after = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| i.id))
        .flatten();
    Ok(Json(Listing { items, next_after }))
}

async fn get_invoice(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Invoice>> {
    p.require("invoices")?;
    sqlx::query_as::<_, Invoice>(
        "SELECT id, number, amount_cents, currency, status, issued_at FROM invoices WHERE id = ? AND user_id = ?",
    )
    .bind(id)
    .bind(p.user_id)
    .fetch_optional(&state.db)
    .await?
    .map(Json)
    .ok_or_else(|| ApiError::not_found("invoice"))
}
