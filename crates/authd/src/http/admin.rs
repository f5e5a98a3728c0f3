//! `/admin/v1`: the analyst's API (Gatehouse console) over users, sessions, activity and
//! revocation.
//!
//! It has its own credential (client id + secret exchanged at `/admin/v1/token` for a short
//! admin JWT with audience `gatehouse-admin`); user tokens fail here on audience and admin
//! tokens fail on `/api` the same way. Every mutating call and every token exchange writes an
//! admin audit event; every response carries `RateLimit-*` headers and a client over its limit
//! gets 429 with `Retry-After`. The OpenAPI document is generated from these handlers.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::admin_clients;
use crate::config::ADMIN_AUDIENCE;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::http::{Client, FormOrJson, JsonBody, bearer};
use crate::keys::{AccessClaims, Rotation};
use crate::ratelimit::Quota;
use crate::secrets::{self, Sensitive};
use crate::sessions::{self, IssuedToken, RevokeReport, SessionFilter, SessionView};
use crate::state::AppState;
use crate::users::{self, UserView};

pub fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/revoke-sessions", post(revoke_user_sessions))
        .route("/users/{id}/force-password-reset", post(force_password_reset))
        .route("/users/{id}/suspend", post(suspend))
        .route("/users/{id}/unsuspend", post(unsuspend))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{sid}", get(get_session))
        .route("/sessions/{sid}/activity", get(session_activity))
        .route(
            "/sessions/{sid}/activity/per-minute",
            get(session_activity_per_minute),
        )
        .route("/sessions/{sid}/revoke", post(revoke_session))
        .route("/tokens/revoke", post(revoke_token))
        .route("/tokens/{jti}", get(token_status))
        .route("/activity", get(tenant_activity))
        .route("/keys/rotate", post(rotate_keys))
        .route("/audit", get(list_audit))
        .route_layer(middleware::from_fn_with_state(state, guard));
    Router::new()
        .route("/token", post(token))
        .route("/openapi.json", get(openapi_json))
        .merge(guarded)
}

/// The generated OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse authd admin API",
        description = "Users, sessions, activity and revocation for the Gatehouse console. \
                       Authenticate with POST /admin/v1/token (client credentials), then send \
                       `Authorization: Bearer <admin token>`.",
        version = "1"
    ),
    paths(
        token, list_users, get_user, revoke_user_sessions, force_password_reset, suspend, unsuspend,
        list_sessions, get_session, session_activity, session_activity_per_minute, revoke_session,
        revoke_token, token_status, tenant_activity, rotate_keys, list_audit
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct AdminApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

/// The committed document's text (`crates/authd/openapi.json`).
pub fn openapi_document() -> String {
    let mut text = AdminApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

/// Error body of every non-2xx response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `unauthorized`, `not_found`, `rate_limited`.
    pub error: String,
    pub message: String,
}

/// The authenticated admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    pub client_id: String,
}

fn rate_headers(resp: &mut Response, q: &Quota) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", q.limit.to_string()),
        ("ratelimit-remaining", q.remaining.to_string()),
        ("ratelimit-reset", q.reset_secs.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

fn rate_limited(q: &Quota) -> Response {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "rate limit of {} requests exceeded; retry in {} s",
            q.limit, q.reset_secs
        ),
    );
    e.retry_after = Some(q.reset_secs);
    let mut resp = e.into_response();
    rate_headers(&mut resp, q);
    resp
}

async fn guard(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    mut req: Request,
    next: Next,
) -> Response {
    let verified = match bearer(req.headers()) {
        None => Err(ApiError::unauthorized(
            "missing_token",
            "an admin bearer token is required",
        )),
        Some(t) => state
            .keys
            .verify_admin(t, db::now())
            .map_err(|r| ApiError::unauthorized(r.reason, "the admin token was refused")),
    };
    let key = match &verified {
        Ok(f) => format!("client:{}", f.client_id.as_deref().unwrap_or(&f.sub)),
        Err(_) => format!("ip:{}", client.ip),
    };
    let quota = state.admin_limiter.check(&key);
    if !quota.allowed {
        return rate_limited(&quota);
    }
    let mut resp = match verified {
        Ok(facts) => match facts.client_id {
            Some(client_id) => {
                req.extensions_mut().insert(Admin { client_id });
                next.run(req).await
            }
            None => ApiError::unauthorized("missing_claim", "admin token without client_id").into_response(),
        },
        Err(e) => e.into_response(),
    };
    rate_headers(&mut resp, &quota);
    resp
}

async fn audit(
    state: &AppState,
    client_id: Option<&str>,
    action: &str,
    target: Option<&str>,
    client: &Client,
    outcome: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO admin_audit (at_ms, client_id, action, target, client_ip, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(db::now_ms())
    .bind(client_id)
    .bind(action)
    .bind(target)
    .bind(client.ip.to_string())
    .bind(outcome)
    .bind(detail.to_string())
    .execute(&state.db)
    .await?;
    tracing::info!(client_id, action, target, outcome, ip = %client.ip, "admin action");
    Ok(())
}

/// Client credentials, as JSON or form (`grant_type=client_credentials` is accepted and optional).
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: Option<String>,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct AdminToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
}

/// Exchange admin client credentials for a short-lived admin token.
#[utoipa::path(post, path = "/admin/v1/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, body = AdminToken),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)
    ))]
async fn token(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    FormOrJson(req): FormOrJson<TokenRequest>,
) -> Response {
    let quota = state.admin_limiter.check(&format!("client:{}", req.client_id));
    if !quota.allowed {
        return rate_limited(&quota);
    }
    let mut resp = match issue_admin_token(&state, &client, req).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => e.into_response(),
    };
    rate_headers(&mut resp, &quota);
    resp
}

async fn issue_admin_token(state: &AppState, client: &Client, req: TokenRequest) -> ApiResult<AdminToken> {
    if req
        .grant_type
        .as_deref()
        .is_some_and(|g| g != "client_credentials")
    {
        return Err(ApiError::bad_request("grant_type must be client_credentials")
            .with_code("unsupported_grant_type"));
    }
    let ok = admin_clients::authenticate(
        &state.db,
        &state.hashing,
        &state.dummy_hash,
        &req.client_id,
        Sensitive(req.client_secret),
    )
    .await?;
    if !ok {
        audit(
            state,
            Some(&req.client_id),
            "token",
            None,
            client,
            "denied",
            serde_json::json!({}),
        )
        .await?;
        return Err(ApiError::unauthorized(
            "invalid_client",
            "unknown client or wrong secret",
        ));
    }
    let now = db::now();
    let ttl = state.config.admin_token_ttl.as_secs() as i64;
    let claims = AccessClaims {
        iss: state.keys.issuer().to_owned(),
        sub: format!("client:{}", req.client_id),
        aud: ADMIN_AUDIENCE.to_owned(),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: secrets::random_id("adm_")?,
        sid: None,
        scope: "admin".to_owned(),
        amr: Vec::new(),
        client_id: Some(req.client_id.clone()),
    };
    let (token, kid) = state.keys.sign(&claims)?;
    let mut tx = crate::db::write_tx(&state.db).await?;
    sessions::bump_key_exp(&mut tx, &kid, claims.exp).await?;
    tx.commit().await?;
    audit(
        state,
        Some(&req.client_id),
        "token",
        None,
        client,
        "ok",
        serde_json::json!({"jti": claims.jti}),
    )
    .await?;
    Ok(AdminToken {
        access_token: token,
        token_type: "Bearer".to_owned(),
        expires_in: ttl,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Substring of username, email or display name.
    pub q: Option<String>,
    /// 1-based page number.
    pub page: Option<i64>,
    /// 1-200, default 50.
    pub per_page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// Users, paged, optionally filtered by `q`.
#[utoipa::path(get, path = "/admin/v1/users", tag = "users", params(UsersQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = UserPage), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_users(State(state): State<AppState>, Query(q): Query<UsersQuery>) -> ApiResult<Json<UserPage>> {
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let page = q.page.unwrap_or(1).max(1);
    let search = q.q.as_deref().filter(|s| !s.is_empty());
    let (users, total) = users::search(&state.db, search, (page - 1) * per_page, per_page).await?;
    Ok(Json(UserPage {
        items: users.iter().map(|u| u.view()).collect(),
        total,
        page,
        per_page,
    }))
}

/// One user.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn get_user(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<UserView>> {
    let user = users::by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(user.view()))
}

async fn existing_user(state: &AppState, id: i64) -> ApiResult<users::User> {
    users::by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Revoke every session of a user and every token issued to them until now.
#[utoipa::path(post, path = "/admin/v1/users/{id}/revoke-sessions", tag = "revocation",
    params(("id" = i64, Path)), security(("admin_token" = [])),
    responses((status = 200, body = RevokeReport), (status = 404, body = ErrorBody)))]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    Path(id): Path<i64>,
) -> ApiResult<Json<RevokeReport>> {
    existing_user(&state, id).await?;
    let report = sessions::revoke_user(&state, id, "admin").await?;
    audit(&state, Some(&admin.client_id), "revoke_user_sessions", Some(&format!("user:{id}")), &client, "ok",
        serde_json::json!({"sessions": report.sessions_revoked.len(), "access_tokens": report.access_tokens.len()}))
    .await?;
    Ok(Json(report))
}

#[derive(Serialize, ToSchema)]
pub struct ResetReport {
    pub user: UserView,
    pub revocation: RevokeReport,
}

/// Force a password change and MFA at next login; revokes all sessions now.
#[utoipa::path(post, path = "/admin/v1/users/{id}/force-password-reset", tag = "users",
    params(("id" = i64, Path)), security(("admin_token" = [])),
    responses((status = 200, body = ResetReport), (status = 404, body = ErrorBody)))]
async fn force_password_reset(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ResetReport>> {
    let report = lock_out(
        &state,
        id,
        "UPDATE users SET password_change_required = 1, mfa_required = 1, updated_at = ? WHERE id = ?",
        "password_reset",
    )
    .await?;
    audit(
        &state,
        Some(&admin.client_id),
        "force_password_reset",
        Some(&format!("user:{id}")),
        &client,
        "ok",
        serde_json::json!({"sessions": report.revocation.sessions_revoked.len()}),
    )
    .await?;
    Ok(Json(report))
}

/// Updates the user with `update` (bound: now, id) and revokes every session of theirs in the
/// same transaction, then applies the revocation to the in-memory sets.
async fn lock_out(state: &AppState, id: i64, update: &str, reason: &str) -> ApiResult<ResetReport> {
    existing_user(state, id).await?;
    let now = state.now();
    let mut tx = crate::db::write_tx(&state.db).await?;
    sqlx::query(update).bind(now).bind(id).execute(&mut *tx).await?;
    let (revocation, entries) = sessions::revoke_user_in(state, &mut tx, id, reason, now).await?;
    tx.commit().await?;
    state.revocations.apply(&entries);
    Ok(ResetReport {
        user: existing_user(state, id).await?.view(),
        revocation,
    })
}

/// Suspend a user: refuses logins, refreshes and every existing token.
#[utoipa::path(post, path = "/admin/v1/users/{id}/suspend", tag = "users",
    params(("id" = i64, Path)), security(("admin_token" = [])),
    responses((status = 200, body = ResetReport), (status = 404, body = ErrorBody)))]
async fn suspend(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ResetReport>> {
    let report = lock_out(
        &state,
        id,
        "UPDATE users SET status = 'suspended', updated_at = ? WHERE id = ?",
        "suspended",
    )
    .await?;
    // Every token is already refused by the revocation above; this also refuses new logins.
    state.revocations.set_suspended(id, true);
    audit(
        &state,
        Some(&admin.client_id),
        "suspend",
        Some(&format!("user:{id}")),
        &client,
        "ok",
        serde_json::json!({}),
    )
    .await?;
    Ok(Json(report))
}

/// Lift a suspension. Tokens revoked by the suspension stay revoked.
#[utoipa::path(post, path = "/admin/v1/users/{id}/unsuspend", tag = "users",
    params(("id" = i64, Path)), security(("admin_token" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn unsuspend(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    Path(id): Path<i64>,
) -> ApiResult<Json<UserView>> {
    existing_user(&state, id).await?;
    sqlx::query("UPDATE users SET status = 'active', updated_at = ? WHERE id = ?")
        .bind(state.now())
        .bind(id)
        .execute(&state.db)
        .await?;
    state.revocations.set_suspended(id, false);
    audit(
        &state,
        Some(&admin.client_id),
        "unsuspend",
        Some(&format!("user:{id}")),
        &client,
        "ok",
        serde_json::json!({}),
    )
    .await?;
    Ok(Json(existing_user(&state, id).await?.view()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// Only this user's sessions.
    pub user: Option<i64>,
    /// Only active (true) or only ended (false) sessions.
    pub active: Option<bool>,
    /// Only sessions seen at or after this unix time.
    pub since: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1-10000, default 100.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<SessionView>,
    /// Absent on the last page.
    pub next_cursor: Option<i64>,
}

/// Sessions, newest first, cursor-paged.
#[utoipa::path(get, path = "/admin/v1/sessions", tag = "sessions", params(SessionsQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = SessionPage), (status = 401, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    Query(q): Query<SessionsQuery>,
) -> ApiResult<Json<SessionPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let filter = SessionFilter {
        user_id: q.user,
        active: q.active,
        since: q.since,
    };
    let items = sessions::list(&state.db, &filter, q.cursor, limit).await?;
    let next_cursor = if items.len() as i64 == limit {
        items.last().map(|s| s.seq)
    } else {
        None
    };
    Ok(Json(SessionPage { items, next_cursor }))
}

#[derive(Serialize, ToSchema)]
pub struct SessionDetail {
    pub session: SessionView,
    /// Every access token issued under the session.
    pub tokens: Vec<IssuedToken>,
    pub refresh_tokens_issued: i64,
}

/// One session with the access tokens issued under it.
#[utoipa::path(get, path = "/admin/v1/sessions/{sid}", tag = "sessions",
    params(("sid" = String, Path)), security(("admin_token" = [])),
    responses((status = 200, body = SessionDetail), (status = 404, body = ErrorBody)))]
async fn get_session(
    State(state): State<AppState>,
    Path(sid): Path<String>,
) -> ApiResult<Json<SessionDetail>> {
    let session = sessions::get(&state.db, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    let tokens = sessions::tokens_of(&state.db, &sid).await?;
    let refresh_tokens_issued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE session_id = ?")
            .bind(&sid)
            .fetch_one(&state.db)
            .await?;
    Ok(Json(SessionDetail {
        session,
        tokens,
        refresh_tokens_issued,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// `next_cursor` of the previous page (rows come oldest first).
    pub cursor: Option<i64>,
    /// 1-1000, default 200.
    pub limit: Option<i64>,
}

#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub struct ActivityRow {
    pub id: i64,
    pub at_ms: i64,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub jti: Option<String>,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    /// Error code when the request was refused or failed.
    pub denial_reason: Option<String>,
    /// Account-settings changes.
    pub sensitive: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityPage {
    pub items: Vec<ActivityRow>,
    pub next_cursor: Option<i64>,
}

/// Raw activity of a session, oldest first, cursor-paged. Includes denied requests.
#[utoipa::path(get, path = "/admin/v1/sessions/{sid}/activity", tag = "sessions",
    params(("sid" = String, Path), ActivityQuery), security(("admin_token" = [])),
    responses((status = 200, body = ActivityPage), (status = 404, body = ErrorBody)))]
async fn session_activity(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Json<ActivityPage>> {
    sessions::get(&state.db, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    // Rows still queued in the recorder are written first, so the answer is current.
    state.recorder.flush().await;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let items = sqlx::query_as::<_, ActivityRow>(
        "SELECT id, at_ms, user_id, session_id, jti, client_ip, user_agent, method, path, status,
                denial_reason, sensitive
         FROM activity WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(&sid)
    .bind(q.cursor.unwrap_or(0))
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let next_cursor = if items.len() as i64 == limit {
        items.last().map(|a| a.id)
    } else {
        None
    };
    Ok(Json(ActivityPage { items, next_cursor }))
}

#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub struct MinuteCount {
    /// Unix time of the minute's start.
    pub minute: i64,
    pub requests: i64,
    pub denied: i64,
    pub sensitive: i64,
}

/// Requests per minute for a session (for a timeline).
#[utoipa::path(get, path = "/admin/v1/sessions/{sid}/activity/per-minute", tag = "sessions",
    params(("sid" = String, Path)), security(("admin_token" = [])),
    responses((status = 200, body = Vec<MinuteCount>), (status = 404, body = ErrorBody)))]
async fn session_activity_per_minute(
    State(state): State<AppState>,
    Path(sid): Path<String>,
) -> ApiResult<Json<Vec<MinuteCount>>> {
    sessions::get(&state.db, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    state.recorder.flush().await;
    let rows = sqlx::query_as::<_, MinuteCount>(
        "SELECT (at_ms / 60000) * 60 AS minute, count(*) AS requests,
                sum(denial_reason IS NOT NULL) AS denied, sum(sensitive) AS sensitive
         FROM activity WHERE session_id = ? GROUP BY at_ms / 60000 ORDER BY minute",
    )
    .bind(&sid)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(rows))
}

/// Revoke one session: its refresh tokens and every access token issued under it.
#[utoipa::path(post, path = "/admin/v1/sessions/{sid}/revoke", tag = "revocation",
    params(("sid" = String, Path)), security(("admin_token" = [])),
    responses((status = 200, body = RevokeReport), (status = 404, body = ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    Path(sid): Path<String>,
) -> ApiResult<Json<RevokeReport>> {
    let report = sessions::revoke_session(&state, &sid, "admin")
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    audit(&state, Some(&admin.client_id), "revoke_session", Some(&format!("session:{sid}")), &client, "ok",
        serde_json::json!({"access_tokens": report.access_tokens.len(), "already_revoked": report.already_revoked}))
    .await?;
    Ok(Json(report))
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeTokenRequest {
    pub jti: String,
}

/// Revoke one access token by jti (kept on the deny list until it expires).
#[utoipa::path(post, path = "/admin/v1/tokens/revoke", tag = "revocation",
    request_body = RevokeTokenRequest, security(("admin_token" = [])),
    responses((status = 200, body = RevokeReport), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
    JsonBody(req): JsonBody<RevokeTokenRequest>,
) -> ApiResult<Json<RevokeReport>> {
    let report = sessions::revoke_token(&state, &req.jti, "admin")
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    audit(
        &state,
        Some(&admin.client_id),
        "revoke_token",
        Some(&format!("jti:{}", req.jti)),
        &client,
        "ok",
        serde_json::json!({"already_revoked": report.already_revoked}),
    )
    .await?;
    Ok(Json(report))
}

/// Rotate the signing key. The old key stays in the JWKS until its tokens expire.
#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "keys", security(("admin_token" = [])),
    responses((status = 200, body = Rotation)))]
async fn rotate_keys(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Extension(client): Extension<Client>,
) -> ApiResult<Json<Rotation>> {
    let rotation = state.keys.rotate(&state.db).await?;
    audit(
        &state,
        Some(&admin.client_id),
        "rotate_keys",
        Some(&format!("kid:{}", rotation.new_kid)),
        &client,
        "ok",
        serde_json::json!({"retired": rotation.retired_kid}),
    )
    .await?;
    Ok(Json(rotation))
}

#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at_ms: i64,
    pub client_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: String,
    pub outcome: String,
    /// JSON object with action-specific detail.
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<i64>,
}

/// Admin audit events, newest first, cursor-paged.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(ActivityQuery),
    security(("admin_token" = [])), responses((status = 200, body = AuditPage)))]
async fn list_audit(
    State(state): State<AppState>,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let items = sqlx::query_as::<_, AuditEvent>(
        "SELECT id, at_ms, client_id, action, target, client_ip, outcome, detail FROM admin_audit
         WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
    )
    .bind(q.cursor)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let next_cursor = if items.len() as i64 == limit {
        items.last().map(|a| a.id)
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantActivityQuery {
    /// Return rows with an id greater than this (the `next_cursor` of the previous page).
    pub after: Option<i64>,
    /// 1-10000, default 1000.
    pub limit: Option<i64>,
    /// `objects` (default): `items`, one object per row. `rows`: `columns` once, then `rows`,
    /// one array of values per row in that order (about half the bytes of `objects`).
    #[param(inline)]
    pub format: Option<ActivityFormat>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityFormat {
    #[default]
    Objects,
    Rows,
}

// The responses of `GET /admin/v1/activity`, for the OpenAPI document: the handler writes the
// JSON text itself (ACTIVITY_PAGE_SQL).
#[derive(Serialize, ToSchema)]
pub struct TenantActivityPage {
    pub items: Vec<ActivityRow>,
    /// The id of the last row returned (or `after` when none): resume from here.
    pub next_cursor: Option<i64>,
    /// Whether more rows were available beyond this page.
    pub has_more: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TenantActivityRows {
    /// The names of the values in each row, in order: the fields of `ActivityRow`.
    #[schema(example = json!(ACTIVITY_COLUMNS))]
    pub columns: Vec<String>,
    /// One array per row, oldest first, e.g.
    /// `[41, 1764000000000, 7, "s_1", "at_1", "203.0.113.9", "curl/8", "GET", "/api/x", 200, null, false]`.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The id of the last row returned (or `after` when none): resume from here.
    pub next_cursor: Option<i64>,
    /// Whether more rows were available beyond this page.
    pub has_more: bool,
}

/// A page of activity in one of the formats.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TenantActivityResponse {
    Objects(TenantActivityPage),
    Rows(TenantActivityRows),
}

/// The columns of the `rows` format, in order.
pub const ACTIVITY_COLUMNS: [&str; 12] = [
    "id",
    "at_ms",
    "user_id",
    "session_id",
    "jti",
    "client_ip",
    "user_agent",
    "method",
    "path",
    "status",
    "denial_reason",
    "sensitive",
];

/// All activity (every user and session) after a cursor, oldest first: the console's
/// incremental sync reads this.
#[utoipa::path(get, path = "/admin/v1/activity", tag = "sessions", params(TenantActivityQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = TenantActivityResponse), (status = 401, body = ErrorBody)))]
async fn tenant_activity(
    State(state): State<AppState>,
    Query(q): Query<TenantActivityQuery>,
) -> ApiResult<Response> {
    state.recorder.flush().await;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let after = q.after.unwrap_or(0);
    let format = q.format.unwrap_or_default();
    // A page can hold 10 000 rows: SQLite writes the rows array itself instead of every value
    // crossing the driver and serde one by one (most of the cost of a page); this only wraps it.
    let (rows, last): (String, Option<i64>) = sqlx::query_as(activity_page_sql(format))
        .bind(after)
        .bind(limit)
        .fetch_one(&state.db)
        .await?;
    let has_more: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM activity WHERE id > ?)")
        .bind(last.unwrap_or(after))
        .fetch_one(&state.db)
        .await?;
    let next_cursor = last.or(q.after);
    let next_cursor = next_cursor.map_or_else(|| "null".to_string(), |c| c.to_string());
    let body = match format {
        ActivityFormat::Objects => {
            format!(r#"{{"items":{rows},"next_cursor":{next_cursor},"has_more":{has_more}}}"#)
        }
        ActivityFormat::Rows => {
            let columns = serde_json::to_string(&ACTIVITY_COLUMNS).unwrap_or_default();
            format!(
                r#"{{"columns":{columns},"rows":{rows},"next_cursor":{next_cursor},"has_more":{has_more}}}"#
            )
        }
    };
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One page of tenant activity (`?1` after, `?2` limit) as a JSON array of [`ActivityRow`]
/// objects (same keys in the same order, `sensitive` a boolean) or of arrays of the same values
/// in [`ACTIVITY_COLUMNS`] order, and the id of its last row.
///
/// The aggregate reads the LIMIT subquery in its `ORDER BY id` order (SQLite does not flatten a
/// LIMIT subquery into an aggregate); an `ORDER BY` inside `json_group_array` would sort the
/// built rows again and cost about half of the query. The unit test below checks the order.
fn activity_page_sql(format: ActivityFormat) -> &'static str {
    match format {
        ActivityFormat::Objects => {
            "SELECT json_group_array(json_object(
                'id', id, 'at_ms', at_ms, 'user_id', user_id, 'session_id', session_id, 'jti', jti,
                'client_ip', client_ip, 'user_agent', user_agent, 'method', method, 'path', path,
                'status', status, 'denial_reason', denial_reason,
                'sensitive', json(CASE WHEN sensitive THEN 'true' ELSE 'false' END))),
             max(id)
             FROM (SELECT * FROM activity WHERE id > ?1 ORDER BY id LIMIT ?2)"
        }
        ActivityFormat::Rows => {
            "SELECT json_group_array(json_array(
                id, at_ms, user_id, session_id, jti, client_ip, user_agent, method, path, status,
                denial_reason, json(CASE WHEN sensitive THEN 'true' ELSE 'false' END))),
             max(id)
             FROM (SELECT * FROM activity WHERE id > ?1 ORDER BY id LIMIT ?2)"
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenStatus {
    pub jti: String,
    pub session_id: String,
    pub user_id: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Whether authd refuses this token now (revoked by jti, session, user or suspension).
    pub revoked: bool,
    /// `token_revoked`, `session_revoked`, `user_revoked` or `user_suspended` when refused.
    pub reason: Option<String>,
}

/// Whether one issued access token would be accepted now.
#[utoipa::path(get, path = "/admin/v1/tokens/{jti}", tag = "revocation",
    params(("jti" = String, Path)), security(("admin_token" = [])),
    responses((status = 200, body = TokenStatus), (status = 404, body = ErrorBody)))]
async fn token_status(
    State(state): State<AppState>,
    Path(jti): Path<String>,
) -> ApiResult<Json<TokenStatus>> {
    let row: Option<(String, i64, i64, i64)> =
        sqlx::query_as("SELECT session_id, user_id, issued_at, expires_at FROM access_tokens WHERE jti = ?")
            .bind(&jti)
            .fetch_optional(&state.db)
            .await?;
    let (session_id, user_id, issued_at, expires_at) = row.ok_or_else(|| ApiError::not_found("token"))?;
    let denial = state
        .revocations
        .check(user_id, Some(&session_id), &jti, issued_at)
        .err();
    Ok(Json(TokenStatus {
        jti,
        session_id,
        user_id,
        issued_at,
        expires_at,
        revoked: denial.is_some(),
        reason: denial.map(|d| d.as_str().to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Database;

    /// The SQL-built page is the JSON serde would write for the same rows.
    #[tokio::test]
    async fn sql_built_activity_page_matches_the_serde_shape() {
        let pool = db::open(&Database::Memory).await.unwrap();
        let odd = "quote \" backslash \\ tab \t nl \n nul-ish \u{1} bell \u{7} del \u{7f} é 😀 </script>";
        for (i, (user, sid, denial, sensitive)) in [
            (Some(7), Some("s_1"), None, false),
            (None, None, Some("token_revoked"), true),
            (Some(8), Some(odd), Some(odd), true),
        ]
        .into_iter()
        .enumerate()
        {
            sqlx::query(
                "INSERT INTO activity (at_ms, user_id, session_id, jti, client_ip, user_agent, method, path,
                                       status, denial_reason, sensitive)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(1_700_000_000_000_i64 + i as i64)
            .bind(user)
            .bind(sid)
            .bind(if sensitive { None } else { Some(format!("at_{i}")) })
            .bind("203.0.113.9")
            .bind(if i == 1 { None } else { Some(odd) })
            .bind("POST")
            .bind(format!("/api/x/{i}?q={odd}"))
            .bind(if i == 1 { 401 } else { 200 })
            .bind(denial)
            .bind(sensitive)
            .execute(&pool)
            .await
            .unwrap();
        }
        for (after, limit) in [(0, 10), (0, 2), (1, 1), (3, 5)] {
            let (items, last): (String, Option<i64>) =
                sqlx::query_as(activity_page_sql(ActivityFormat::Objects))
                    .bind(after)
                    .bind(limit)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let (arrays, arrays_last): (String, Option<i64>) =
                sqlx::query_as(activity_page_sql(ActivityFormat::Rows))
                    .bind(after)
                    .bind(limit)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let rows = sqlx::query_as::<_, ActivityRow>(
                "SELECT id, at_ms, user_id, session_id, jti, client_ip, user_agent, method, path, status,
                        denial_reason, sensitive
                 FROM activity WHERE id > ? ORDER BY id LIMIT ?",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(&pool)
            .await
            .unwrap();
            let got: serde_json::Value = serde_json::from_str(&items).unwrap();
            assert_eq!(
                got,
                serde_json::to_value(&rows).unwrap(),
                "after {after} limit {limit}"
            );
            assert_eq!(last, rows.last().map(|r| r.id));
            assert_eq!(arrays_last, last);
            // The same values as arrays in ACTIVITY_COLUMNS order.
            let arrays: Vec<Vec<serde_json::Value>> = serde_json::from_str(&arrays).unwrap();
            let as_objects: Vec<serde_json::Value> = arrays
                .into_iter()
                .map(|r| {
                    assert_eq!(r.len(), ACTIVITY_COLUMNS.len());
                    let pairs = ACTIVITY_COLUMNS.iter().map(|c| c.to_string()).zip(r);
                    serde_json::Value::Object(pairs.collect())
                })
                .collect();
            assert_eq!(serde_json::Value::Array(as_objects), got);
        }
    }
}
