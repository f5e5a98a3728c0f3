//! `/auth/*`: login, refresh rotation, logout, forced password change and MFA enrollment.
//!
//! Login answers with a closed set of outcomes the client branches on: tokens, `mfa_required`
//! (401, send a TOTP or recovery code), `password_change_required` (403 with a one-use
//! `reset_token` for `POST /auth/password`) and `mfa_enrollment_required` (403 with an
//! `enrollment_token` for `/auth/mfa/enroll` then `/auth/mfa/confirm`). Passwords and tokens are
//! never logged; failures log the username only.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::http::{Client, JsonBody, bearer};
use crate::mfa::{self, Enrollment};
use crate::secrets::{self, Sensitive};
use crate::sessions::{self, Issued, RefreshError, USER_SCOPE};
use crate::state::AppState;
use crate::users::{self, Purpose, User};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/password", post(change_password))
        .route("/auth/mfa/enroll", post(enroll))
        .route("/auth/mfa/confirm", post(confirm))
}

#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

/// Tokens as returned by login and refresh (OAuth 2 token response shape).
#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    scope: &'static str,
    session_id: String,
}

impl From<Issued> for TokenResponse {
    fn from(i: Issued) -> Self {
        TokenResponse {
            access_token: i.access_token.0,
            token_type: "Bearer",
            expires_in: i.expires_in,
            refresh_token: i.refresh_token.0,
            scope: USER_SCOPE,
            session_id: i.session_id,
        }
    }
}

async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let user = users::by_username(&state.db, &req.username).await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let password_ok = state.hashing.verify_async(Sensitive(req.password), phc).await;
    let user = match user {
        Some(u) if password_ok => u,
        _ => {
            tracing::info!(username = %req.username, ip = %client.ip, "login failed: bad credentials");
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    if user.is_suspended() {
        return Err(ApiError::forbidden(
            "account_suspended",
            "this account is suspended",
        ));
    }
    let mut amr = vec!["pwd".to_owned()];
    if user.totp_secret.is_some() {
        let ok = match (&req.totp_code, &req.recovery_code) {
            (Some(code), _) => mfa::verify_login_code(&state.db, &user, code, state.now()).await?,
            (None, Some(code)) => mfa::use_recovery_code(&state.db, &user, code).await?,
            (None, None) => {
                return Err(ApiError::unauthorized(
                    "mfa_required",
                    "a TOTP or recovery code is required",
                ));
            }
        };
        if !ok {
            tracing::info!(user_id = user.id, ip = %client.ip, "login failed: bad second factor");
            return Err(ApiError::unauthorized(
                "invalid_mfa_code",
                "the code is wrong or was already used",
            ));
        }
        amr.extend(["otp".to_owned(), "mfa".to_owned()]);
    }
    if user.password_change_required {
        let ttl = state.config.challenge_ttl.as_secs() as i64;
        let token = users::create_challenge(&state.db, user.id, Purpose::PasswordReset, ttl).await?;
        return Err(ApiError::forbidden(
            "password_change_required",
            "set a new password with POST /auth/password, then log in again",
        )
        .with("reset_token", token.0));
    }
    if user.mfa_required && user.totp_secret.is_none() {
        return Err(enrollment_required(&state, &user).await?);
    }
    let issued = sessions::start(
        &state,
        &user,
        &amr,
        &client.ip.to_string(),
        client.user_agent.as_deref(),
    )
    .await?;
    Ok(Json(issued.into()))
}

async fn enrollment_required(state: &AppState, user: &User) -> ApiResult<ApiError> {
    let ttl = state.config.challenge_ttl.as_secs() as i64;
    let token = users::create_challenge(&state.db, user.id, Purpose::MfaEnrollment, ttl).await?;
    Ok(ApiError::forbidden(
        "mfa_enrollment_required",
        "enroll TOTP with POST /auth/mfa/enroll and /auth/mfa/confirm, then log in again",
    )
    .with("enrollment_token", token.0))
}

#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    match sessions::refresh(&state, &req.refresh_token).await {
        Ok(issued) => Ok(Json(issued.into())),
        Err(e) => Err(match e {
            RefreshError::Unknown => ApiError::unauthorized("invalid_refresh_token", "unknown refresh token"),
            RefreshError::Expired => ApiError::unauthorized("refresh_token_expired", "refresh token expired"),
            RefreshError::SessionRevoked => {
                ApiError::unauthorized("session_revoked", "the session was revoked")
            }
            RefreshError::Reused => ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been revoked",
            ),
            RefreshError::Suspended => ApiError::forbidden("account_suspended", "this account is suspended"),
            RefreshError::PasswordChangeRequired => {
                ApiError::forbidden("password_change_required", "log in again to change your password")
            }
            RefreshError::Other(e) => ApiError::from(e),
        }),
    }
}

#[derive(Deserialize, Default)]
pub struct LogoutRequest {
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Serialize)]
struct LogoutResponse {
    session_id: String,
    revoked: bool,
}

/// Ends the session named by a refresh token in the body or by the bearer access token.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<LogoutResponse>> {
    let req: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::bad_request("body must be {\"refresh_token\": ...} or empty")
                .with_code("malformed_json")
        })?
    };
    let sid = if let Some(rt) = &req.refresh_token {
        sessions::session_of_refresh(&state.db, rt).await?
    } else if let Some(token) = bearer(&headers) {
        state
            .keys
            .verify_api(token, state.now())
            .ok()
            .and_then(|facts| facts.sid)
    } else {
        None
    };
    let sid =
        sid.ok_or_else(|| ApiError::unauthorized("invalid_token", "no valid refresh or access token given"))?;
    let report = sessions::revoke_session(&state, &sid, "logout")
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    Ok(Json(LogoutResponse {
        session_id: sid,
        revoked: !report.already_revoked,
    }))
}

#[derive(Deserialize)]
pub struct PasswordRequest {
    reset_token: String,
    new_password: String,
}

#[derive(Serialize)]
struct PasswordResponse {
    /// `password_changed` (log in again) or `mfa_enrollment_required`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_token: Option<String>,
}

async fn change_password(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> ApiResult<Json<PasswordResponse>> {
    secrets::check_password_rules(&req.new_password)
        .map_err(|m| ApiError::bad_request(m).with_code("weak_password"))?;
    let user_id = users::redeem_challenge(&state.db, &req.reset_token, Purpose::PasswordReset, false)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_reset_token", "reset token is unknown, used or expired")
        })?;
    let user = users::by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let same = state
        .hashing
        .verify_async(Sensitive(req.new_password.clone()), user.password_hash.clone())
        .await;
    if same {
        return Err(
            ApiError::bad_request("the new password must differ from the old one")
                .with_code("password_reused"),
        );
    }
    // Spend the token only now, so a rejected new password can be retried with it.
    users::redeem_challenge(&state.db, &req.reset_token, Purpose::PasswordReset, true)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_reset_token", "reset token is unknown, used or expired")
        })?;
    users::set_password(&state.db, &state.hashing, user_id, Sensitive(req.new_password)).await?;
    tracing::info!(user_id, "password changed after forced reset");
    if user.mfa_required && user.totp_secret.is_none() {
        let ttl = state.config.challenge_ttl.as_secs() as i64;
        let token = users::create_challenge(&state.db, user_id, Purpose::MfaEnrollment, ttl).await?;
        return Ok(Json(PasswordResponse {
            status: "mfa_enrollment_required",
            enrollment_token: Some(token.0),
        }));
    }
    Ok(Json(PasswordResponse {
        status: "password_changed",
        enrollment_token: None,
    }))
}

#[derive(Deserialize)]
pub struct EnrollRequest {
    enrollment_token: String,
}

async fn enrollment_user(state: &AppState, token: &str, consume: bool) -> ApiResult<User> {
    let user_id = users::redeem_challenge(&state.db, token, Purpose::MfaEnrollment, consume)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_enrollment_token",
                "enrollment token is unknown, used or expired",
            )
        })?;
    users::by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

async fn enroll(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> ApiResult<Json<Enrollment>> {
    let user = enrollment_user(&state, &req.enrollment_token, false).await?;
    let enrollment = mfa::begin_enrollment(&state.db, &user).await?;
    Ok(Json(enrollment.0))
}

#[derive(Deserialize)]
pub struct ConfirmRequest {
    enrollment_token: String,
    code: String,
}

#[derive(Serialize)]
pub struct RecoveryCodes {
    /// Shown once; store them offline. Each works once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}

async fn confirm(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let user = enrollment_user(&state, &req.enrollment_token, false).await?;
    let codes = mfa::confirm_enrollment(&state.db, &user, &req.code, state.now())
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_mfa_code", "the code does not match the pending secret")
        })?;
    // Spend the challenge only once enrollment succeeded, so a typo can be retried.
    users::redeem_challenge(&state.db, &req.enrollment_token, Purpose::MfaEnrollment, true).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.0,
    }))
}
