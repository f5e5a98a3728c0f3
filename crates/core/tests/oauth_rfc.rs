//! The RFC 7662 introspection and RFC 7009 revocation client against a real, OpenID-certified
//! authorization server: the `oidc-provider` npm package (pinned in
//! tests/fixtures/oidc-provider/package-lock.json), started on loopback by
//! `gatehouse_fakes::oidc_provider::start`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_core::ErrorKind;
use gatehouse_core::http::{ClientOptions, HttpClient};
use gatehouse_core::oauth::{ClientAuth, OAuthClient, TokenTypeHint, discover};
use gatehouse_core::secrets::Sensitive;
use gatehouse_fakes::oidc_provider::{OidcProvider as Provider, start};

const SECRET: &str = "gatehouse-test-secret-0123456789";
const POST_SECRET: &str = "gatehouse-post-secret-0123456789";

fn http() -> HttpClient {
    HttpClient::new(ClientOptions::default()).unwrap()
}

async fn client(p: &Provider, id: &str, secret: &str, auth: ClientAuth) -> OAuthClient {
    let endpoints = discover(&http(), &p.issuer.parse().unwrap()).await.unwrap();
    OAuthClient::new(http(), endpoints, id, Sensitive::new(secret.to_string()), auth)
}

#[tokio::test]
async fn a_revoked_token_introspects_inactive() {
    let Some(p) = start() else { return };
    let c = client(&p, "gatehouse", SECRET, ClientAuth::Basic).await;
    let e = c.endpoints();
    assert_eq!(e.issuer.as_deref(), Some(p.issuer.trim_end_matches('/')));
    assert!(e.introspection.is_some() && e.revocation.is_some());

    let grant = c.client_credentials(Some("api:read")).await.unwrap();
    assert_eq!(grant.scope.as_deref(), Some("api:read"));
    let token = grant.access_token;

    let live = c
        .introspect(&token, Some(TokenTypeHint::AccessToken))
        .await
        .unwrap();
    assert!(live.active, "{live:?}");
    assert_eq!(live.client_id.as_deref(), Some("gatehouse"));
    assert_eq!(live.scope.as_deref(), Some("api:read"));
    assert!(live.exp.unwrap() > chrono::Utc::now().timestamp());
    assert!(!c.verify_inactive(&token).await.unwrap());

    c.revoke(&token, Some(TokenTypeHint::AccessToken)).await.unwrap();
    let dead = c.introspect(&token, None).await.unwrap();
    assert!(!dead.active, "{dead:?}");
    assert_eq!(dead.client_id, None, "an inactive token says nothing more");
    assert!(c.verify_inactive(&token).await.unwrap());

    // RFC 7009 §2.2: revoking again (or an unknown token) is still a success.
    c.revoke(&token, None).await.unwrap();
    let unknown = Sensitive::new("not-a-token-issued-here".to_string());
    c.revoke(&unknown, None).await.unwrap();
    assert!(!c.introspect(&unknown, None).await.unwrap().active);
}

#[tokio::test]
async fn client_secret_post_works_and_another_client_cannot_revoke_the_token() {
    let Some(p) = start() else { return };
    let owner = client(&p, "gatehouse", SECRET, ClientAuth::Basic).await;
    let other = client(&p, "gatehouse-post", POST_SECRET, ClientAuth::Post).await;
    let token = owner.client_credentials(None).await.unwrap().access_token;

    // The server refuses to revoke another client's token, and the token stays active.
    let err = other.revoke(&token, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(err.to_string().contains("not authorized to revoke"), "{err}");
    assert!(owner.introspect(&token, None).await.unwrap().active);

    // The post-auth client's own token goes through the whole cycle.
    let mine = other
        .client_credentials(Some("api:read"))
        .await
        .unwrap()
        .access_token;
    assert!(other.introspect(&mine, None).await.unwrap().active);
    other
        .revoke(&mine, Some(TokenTypeHint::AccessToken))
        .await
        .unwrap();
    assert!(other.verify_inactive(&mine).await.unwrap());

    // A wrong secret is a refused credential.
    let wrong = client(
        &p,
        "gatehouse",
        "wrong-secret-wrong-secret-000000",
        ClientAuth::Basic,
    )
    .await;
    let err = wrong.introspect(&token, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let err = wrong.client_credentials(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

/// Containment of a token the analyst holds: the provider's admin API cannot revoke one token
/// (Kratos here), so the profile's standard client revokes it (RFC 7009) and introspection
/// (RFC 7662) verifies it, through the real `Actions` with a real store and audit log.
#[tokio::test]
async fn a_held_token_is_revoked_and_verified_by_introspection() {
    use std::sync::Arc;

    use gatehouse_core::actions::{Actions, DIGEST_PREFIX};
    use gatehouse_core::audit::Log;
    use gatehouse_core::backend::kratos::Kratos;
    use gatehouse_core::store::Store;

    let Some(p) = start() else { return };
    let kratos = gatehouse_fakes::kratos::Kratos::new(None).start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    let actions = Actions {
        log: Log::new(store.clone(), None),
        profile: "ory".into(),
        backend: Arc::new(Kratos::new(http(), kratos.url.parse().unwrap(), None)),
        actor: "analyst@test".into(),
        ssf: None,
    };
    let c = client(&p, "gatehouse", SECRET, ClientAuth::Basic).await;
    let token = c.client_credentials(Some("api:read")).await.unwrap().access_token;
    assert!(c.introspect(&token, None).await.unwrap().active);

    let r = actions.revoke_held_token(&token, Some(&c)).await.unwrap();
    assert!(r.verified, "{:?}", r.checks);
    assert!(!r.already_done);
    assert!(
        r.target.starts_with(DIGEST_PREFIX),
        "an opaque token is named by its digest: {}",
        r.target
    );
    let by = &r.checks[0].what;
    assert!(
        by.starts_with("verified by RFC 7662 introspection at ") && by.contains("inactive (active: false)"),
        "{by}"
    );
    assert!(!c.introspect(&token, None).await.unwrap().active);
    // Again: already inactive, nothing sent, still verified.
    let again = actions.revoke_held_token(&token, Some(&c)).await.unwrap();
    assert!(again.already_done && again.verified, "{again:?}");

    // A token this client may not revoke: refused, recorded as failed, and still active.
    let other = client(&p, "gatehouse-post", POST_SECRET, ClientAuth::Post).await;
    let foreign = other.client_credentials(None).await.unwrap().access_token;
    let err = actions.revoke_held_token(&foreign, Some(&c)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(other.introspect(&foreign, None).await.unwrap().active);

    // Without a standard client the provider's limits are said, not papered over.
    let err = actions.revoke_held_token(&token, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(err.to_string().contains("RFC 7009"), "{err}");

    // The audit log names the digest, never a token.
    let mut out = Vec::new();
    gatehouse_core::audit::export_jsonl(&store, &mut out)
        .await
        .unwrap();
    let audit = String::from_utf8(out).unwrap();
    assert!(audit.contains(&r.target) && audit.contains("revoke_token.outcome"));
    for t in [&token, &foreign] {
        assert!(
            !audit.contains(t.expose().as_str()),
            "a token reached the audit log"
        );
    }
    let rows: Vec<(Option<String>,)> = sqlx::query_as("SELECT outcome FROM actions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|(o,)| !o.as_deref().unwrap_or("").contains(token.expose().as_str()))
    );
}
