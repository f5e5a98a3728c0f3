#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Shared Signals end to end over loopback HTTP, with a real SQLite file and the real OS
//! keyring (run under `with_keyring`, see ./x): SETs signed with the keyring-held key are pushed
//! to a receiver endpoint, validated there against the transmitter's JWKS and recorded; a
//! receiver that is down keeps them in the outbox until it is back; a refusal is final; every
//! step is in the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_core::audit::{self, Log};
use gatehouse_core::http::{ClientOptions, HttpClient};
use gatehouse_core::secrets::{KeyringStore, Namespace, SecretStore};
use gatehouse_core::ssf::apply::Effect;
use gatehouse_core::ssf::receive::{self, Inbox};
use gatehouse_core::ssf::set::{CREDENTIAL_CHANGE, CaepEvent, SESSION_REVOKED};
use gatehouse_core::ssf::{RawReceiver, RawSsf, RawTransmitter, Subject, Transmitter, key_name, signing_key};
use gatehouse_core::store::Store;
use tokio::net::TcpListener;

const ISSUER: &str = "https://gatehouse.test/ssf-it";
const AUDIENCE: &str = "https://receiver.test";

fn keyring() -> Arc<dyn SecretStore> {
    Arc::new(KeyringStore::new(Namespace::Test))
}

struct World {
    _dir: tempfile::TempDir,
    log: Log,
    profile: String,
    secrets: Arc<dyn SecretStore>,
}

async fn world(profile: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    let secrets = keyring();
    let _ = secrets.delete(&key_name(profile).unwrap());
    World {
        log: Log::new(store, Some(Arc::clone(&secrets))),
        _dir: dir,
        profile: profile.into(),
        secrets,
    }
}

fn transmitter(w: &World, endpoint: &str, audience: &str) -> Transmitter {
    let config = RawSsf {
        issuer: ISSUER.into(),
        receivers: vec![RawReceiver {
            name: "rp".into(),
            endpoint: endpoint.into(),
            audience: audience.into(),
        }],
        transmitter: None,
    }
    .validate()
    .unwrap();
    Transmitter {
        log: w.log.clone(),
        profile: w.profile.clone(),
        idp: "http://127.0.0.1:8420".into(),
        config,
        signer: signing_key(w.secrets.as_ref(), &w.profile).unwrap(),
        http: HttpClient::new(ClientOptions::default()).unwrap(),
    }
}

/// Serves the transmitter's JWKS, as an SSF transmitter publishes it.
async fn serve_jwks(jwks: serde_json::Value) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let j = jwks.clone();
            async move { axum::Json(j) }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

/// A receiver (our own `ssf receive` endpoint) on `listener`, recording into `w`'s store.
async fn start_receiver(
    w: &World,
    listener: TcpListener,
    jwks_url: &str,
) -> tokio::sync::oneshot::Sender<()> {
    let http = HttpClient::new(ClientOptions::default()).unwrap();
    let rules = receive::rules_for(
        &http,
        &RawTransmitter {
            issuer: ISSUER.into(),
            jwks_url: jwks_url.into(),
            audience: AUDIENCE.into(),
        },
    )
    .await
    .unwrap();
    let inbox = Inbox {
        log: w.log.clone(),
        profile: w.profile.clone(),
        rules,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(receive::serve(inbox, listener, async {
        let _ = rx.await;
    }));
    tx
}

fn subject() -> Subject {
    Subject {
        idp: "http://127.0.0.1:8420".into(),
        user_id: Some("42".into()),
        session_id: Some("sess-1".into()),
    }
}

async fn actions(log: &Log) -> Vec<String> {
    let mut entries = audit::recent(log.store(), 1000).await.unwrap();
    entries.reverse();
    entries.into_iter().map(|e| e.action).collect()
}

#[tokio::test]
async fn sets_round_trip_through_the_receiver_and_every_step_is_audited() {
    let w = world("ssf-it-roundtrip").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    let t = transmitter(&w, &endpoint, AUDIENCE);
    let _stop = start_receiver(&w, listener, &serve_jwks(t.jwks()).await).await;

    t.emit(
        CaepEvent::SessionRevoked {
            reason_admin: "stolen".into(),
        },
        &subject(),
        Some("act_1"),
    )
    .await
    .unwrap();
    t.emit(
        CaepEvent::CredentialChange {
            credential_type: "password".into(),
            change_type: "revoke".into(),
            reason_admin: "forced reset".into(),
        },
        &subject(),
        Some("act_2"),
    )
    .await
    .unwrap();
    let d = t.deliver_due().await.unwrap();
    assert_eq!(
        (d.delivered, d.refused, d.retrying, d.pending_total),
        (2, 0, 0, 0)
    );

    let got = receive::recent(&w.log, &w.profile, 10).await.unwrap();
    let mut events: Vec<&str> = got.iter().map(|s| s.event.as_str()).collect();
    events.sort();
    assert_eq!(events, vec![CREDENTIAL_CHANGE, SESSION_REVOKED]);
    assert_eq!(got[0].sub_id["user"]["sub"], "42");
    assert_eq!(got[0].iss, ISSUER);
    let a = actions(&w.log).await;
    for action in ["ssf.emit", "ssf.delivered", "ssf.received"] {
        assert_eq!(a.iter().filter(|x| *x == action).count(), 2, "{action} in {a:?}");
    }
    assert!(w.log.verify().await.unwrap().ok);

    // The key came from the real keyring: a second, independent store instance reads it back.
    let again = signing_key(keyring().as_ref(), &w.profile).unwrap();
    assert_eq!(again.public_jwk(), t.signer.public_jwk());
    w.secrets.delete(&key_name(&w.profile).unwrap()).unwrap();
}

#[tokio::test]
async fn a_receiver_that_is_down_loses_nothing_and_the_outbox_drains_when_it_is_back() {
    let w = world("ssf-it-outbox").await;
    // Reserve a port, then close it: the receiver is down.
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let endpoint = format!("http://{addr}/");
    let t = transmitter(&w, &endpoint, AUDIENCE);
    for i in 0..3 {
        t.emit(
            CaepEvent::SessionRevoked {
                reason_admin: format!("stolen {i}"),
            },
            &subject(),
            None,
        )
        .await
        .unwrap();
    }
    let d = t.deliver_due().await.unwrap();
    assert_eq!((d.delivered, d.retrying, d.pending_total), (0, 3, 3));
    // Not due again yet (backoff), so a second pass sends nothing.
    assert_eq!(t.deliver_due().await.unwrap().retrying, 0);

    // The receiver comes up; a new transmitter over the same store (a restarted console).
    let jwks_url = serve_jwks(t.jwks()).await;
    let _stop = start_receiver(&w, TcpListener::bind(addr).await.unwrap(), &jwks_url).await;
    let t2 = transmitter(&w, &endpoint, AUDIENCE);
    t2.retry_now().await.unwrap();
    let d = t2.deliver_due().await.unwrap();
    assert_eq!((d.delivered, d.retrying, d.pending_total), (3, 0, 0));
    assert_eq!(receive::recent(&w.log, &w.profile, 10).await.unwrap().len(), 3);
    let a = actions(&w.log).await;
    assert_eq!(a.iter().filter(|x| *x == "ssf.emit").count(), 3);
    assert_eq!(a.iter().filter(|x| *x == "ssf.delivered").count(), 3);
    w.secrets.delete(&key_name(&w.profile).unwrap()).unwrap();
}

#[tokio::test]
async fn a_refused_set_is_final_and_audited_with_the_receivers_error_code() {
    let w = world("ssf-it-refused").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    // Addressed to an audience the receiver is not.
    let t = transmitter(&w, &endpoint, "https://someone-else.test");
    let _stop = start_receiver(&w, listener, &serve_jwks(t.jwks()).await).await;
    t.emit(
        CaepEvent::SessionRevoked {
            reason_admin: "x".into(),
        },
        &subject(),
        None,
    )
    .await
    .unwrap();
    let d = t.deliver_due().await.unwrap();
    assert_eq!((d.delivered, d.refused, d.pending_total), (0, 1, 0));
    let entries = audit::recent(w.log.store(), 10).await.unwrap();
    let refused = entries.iter().find(|e| e.action == "ssf.refused").unwrap();
    assert!(
        refused.detail["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid_audience"),
        "{}",
        refused.detail
    );
    assert!(receive::recent(&w.log, &w.profile, 10).await.unwrap().is_empty());
    w.secrets.delete(&key_name(&w.profile).unwrap()).unwrap();
}

#[tokio::test]
async fn the_push_endpoint_answers_rfc_8935_errors_and_accepts_a_retried_jti_once() {
    let w = world("ssf-it-endpoint").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    let t = transmitter(&w, &endpoint, AUDIENCE);
    let _stop = start_receiver(&w, listener, &serve_jwks(t.jwks()).await).await;
    let http = reqwest::Client::new();
    let r = http
        .post(&endpoint)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["err"], "invalid_request");

    t.emit(
        CaepEvent::SessionRevoked {
            reason_admin: "x".into(),
        },
        &subject(),
        None,
    )
    .await
    .unwrap();
    let token: String = sqlx::query_scalar("SELECT set_jwt FROM ssf_outbox")
        .fetch_one(w.log.store().pool())
        .await
        .unwrap();
    for _ in 0..2 {
        let r = http
            .post(&endpoint)
            .header("content-type", "application/secevent+jwt")
            .body(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    assert_eq!(receive::recent(&w.log, &w.profile, 10).await.unwrap().len(), 1);
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let r = http
        .post(&endpoint)
        .header("content-type", "application/secevent+jwt")
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    w.secrets.delete(&key_name(&w.profile).unwrap()).unwrap();
}

async fn seed_session(
    store: &Store,
    profile: &str,
    user: &str,
    email: &str,
    session: &str,
    ip: &str,
    at_ms: i64,
) {
    let pool = store.pool();
    sqlx::query(
        "INSERT OR IGNORE INTO users (profile, id, username, email, status, synced_at_ms) VALUES (?, ?, ?, ?, 'active', ?)",
    )
    .bind(profile)
    .bind(user)
    .bind(email)
    .bind(email)
    .bind(at_ms)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sessions (profile, id, user_id, started_at_ms, last_seen_at_ms, ip, user_agent, active, synced_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', 1, ?)",
    )
    .bind(profile)
    .bind(session)
    .bind(user)
    .bind(at_ms)
    .bind(at_ms)
    .bind(ip)
    .bind(at_ms)
    .execute(pool)
    .await
    .unwrap();
    request(store, profile, user, session, ip, at_ms, &format!("{session}-0")).await;
}

async fn request(store: &Store, profile: &str, user: &str, session: &str, ip: &str, at_ms: i64, id: &str) {
    sqlx::query(
        "INSERT INTO activity (profile, event_id, at_ms, user_id, session_id, ip, user_agent, method, path, status)
         VALUES (?, ?, ?, ?, ?, ?, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', 'GET', '/api/orders', 200)",
    )
    .bind(profile)
    .bind(id)
    .bind(at_ms)
    .bind(user)
    .bind(session)
    .bind(ip)
    .execute(store.pool())
    .await
    .unwrap();
}

async fn session_state(store: &Store, profile: &str, id: &str) -> (i64, Option<i64>) {
    sqlx::query_as("SELECT active, revoked_at_ms FROM sessions WHERE profile = ? AND id = ?")
        .bind(profile)
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

fn subject_of(user: Option<&str>, session: Option<&str>) -> Subject {
    Subject {
        idp: "https://idp.test".into(),
        user_id: user.map(str::to_owned),
        session_id: session.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_received_session_revoked_ends_the_session_here_and_its_later_use_is_found() {
    let w = world("ssf-it-apply").await;
    let p = w.profile.clone();
    let store = w.log.store().clone();
    let start = gatehouse_core::store::now_ms() - 30 * 60 * 1000;
    seed_session(
        &store,
        &p,
        "42",
        "alice@example.com",
        "sess-stolen",
        "81.2.69.142",
        start,
    )
    .await;
    seed_session(
        &store,
        &p,
        "42",
        "alice@example.com",
        "sess-laptop",
        "81.2.69.142",
        start,
    )
    .await;
    seed_session(
        &store,
        &p,
        "7",
        "bob@example.com",
        "sess-bob",
        "81.2.69.160",
        start,
    )
    .await;
    seed_session(
        &store,
        &p,
        "8",
        "carol@example.com",
        "sess-carol",
        "81.2.69.161",
        start,
    )
    .await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    let t = transmitter(&w, &endpoint, AUDIENCE);
    let _stop = start_receiver(&w, listener, &serve_jwks(t.jwks()).await).await;
    let revoked = || CaepEvent::SessionRevoked {
        reason_admin: "stolen".into(),
    };
    // One session of alice; every session of bob (a user subject); carol's session named
    // together with bob as its user (contradictory: changes nothing); someone unknown;
    // a credential change for alice (recorded against her, changes no session).
    t.emit(revoked(), &subject_of(Some("42"), Some("sess-stolen")), None)
        .await
        .unwrap();
    t.emit(revoked(), &subject_of(Some("7"), None), None)
        .await
        .unwrap();
    t.emit(revoked(), &subject_of(Some("7"), Some("sess-carol")), None)
        .await
        .unwrap();
    t.emit(revoked(), &subject_of(Some("nobody"), Some("sess-unknown")), None)
        .await
        .unwrap();
    t.emit(
        CaepEvent::CredentialChange {
            credential_type: "password".into(),
            change_type: "update".into(),
            reason_admin: "user changed the password".into(),
        },
        &subject_of(Some("42"), None),
        None,
    )
    .await
    .unwrap();
    assert_eq!(t.deliver_due().await.unwrap().delivered, 5);

    let stolen = session_state(&store, &p, "sess-stolen").await;
    assert_eq!(stolen.0, 0, "the revoked session is no longer active");
    let revoked_at = stolen.1.expect("revoked_at recorded");
    assert!((revoked_at - gatehouse_core::store::now_ms()).abs() < 120_000);
    assert_eq!(session_state(&store, &p, "sess-laptop").await, (1, None));
    assert_eq!(session_state(&store, &p, "sess-bob").await.0, 0);
    assert_eq!(session_state(&store, &p, "sess-carol").await, (1, None));

    let got = receive::recent(&w.log, &p, 10).await.unwrap();
    let effects: Vec<(Effect, Option<String>, Vec<String>)> = {
        let mut v: Vec<_> = got
            .iter()
            .map(|s| {
                let a = s.applied.clone().expect("applied recorded");
                (a.effect, a.user, a.sessions_ended)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        effects,
        vec![
            (Effect::Ended, Some("42".into()), vec!["sess-stolen".into()]),
            (Effect::Ended, Some("7".into()), vec!["sess-bob".into()]),
            (Effect::Recorded, Some("42".into()), vec![]),
            (Effect::Unresolved, None, vec![]),
            (Effect::Unresolved, None, vec![]),
        ]
    );
    // Audited under what it was about, so incident timelines of that session and user show it.
    let entries = audit::about(&store, &p, &["sess-stolen".to_string(), "42".to_string()], 50)
        .await
        .unwrap();
    assert_eq!(
        entries.iter().filter(|e| e.action == "ssf.received").count(),
        2,
        "{entries:?}"
    );

    // The thief keeps using the stolen session's token where it is still honoured; the
    // laptop's session goes on as before.
    let later = revoked_at + 5 * 60 * 1000;
    request(&store, &p, "42", "sess-stolen", "81.2.69.142", later, "late-1").await;
    request(&store, &p, "42", "sess-laptop", "81.2.69.142", later, "late-2").await;
    let detector = gatehouse_core::triage::Detector::new(
        gatehouse_core::detect::Config::default(),
        gatehouse_core::enrich::EnrichConfig {
            city_db: None,
            asn_db: None,
        },
    );
    detector.run(&store, &p).await.unwrap();
    let findings = gatehouse_core::triage::list(&store, &p, &Default::default())
        .await
        .unwrap();
    let after: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == gatehouse_core::detect::Kind::RevokedTokenUse)
        .collect();
    assert_eq!(after.len(), 1, "{findings:?}");
    assert_eq!(after[0].session_id.as_deref(), Some("sess-stolen"));
    let explanation = after[0].finding["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("identity provider revoked the session"),
        "{explanation}"
    );

    // Delivered again (the transmitter retried): accepted, but recorded and applied once.
    let first: String = sqlx::query_scalar("SELECT set_jwt FROM ssf_outbox ORDER BY id LIMIT 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(&endpoint)
        .header("content-type", "application/secevent+jwt")
        .body(first)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let ends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM activity WHERE profile = ? AND path = 'ssf:session-revoked'",
    )
    .bind(&p)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(ends, 2);
    assert!(w.log.verify().await.unwrap().ok);
    w.secrets.delete(&key_name(&w.profile).unwrap()).unwrap();
}

/// The desktop's live loop calls `Console::ssf_deliver_pending` every tick: it skips a profile
/// without an `ssf` table and pushes the active profile's due SETs.
#[tokio::test]
async fn the_live_delivery_pass_pushes_due_sets_and_skips_profiles_without_ssf() {
    let dir = tempfile::tempdir().unwrap();
    let paths = gatehouse_core::paths::Paths::under(dir.path());
    std::fs::create_dir_all(&paths.config_dir).unwrap();
    let config_path = paths.config_dir.join("config.toml");
    let profile = "ssf-it-live";
    let base = format!(
        "default_profile = \"{profile}\"\n\n[profiles.{profile}]\nkind = \"authd\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"gatehouse-console\"\n"
    );
    std::fs::write(&config_path, &base).unwrap();
    let console = gatehouse_core::Console::with(paths, keyring()).unwrap();
    let _ = keyring().delete(&key_name(profile).unwrap());
    assert_eq!(console.ssf_deliver_pending().await.unwrap(), None);

    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    std::fs::write(
        &config_path,
        format!(
            "{base}\n[profiles.{profile}.ssf]\nissuer = \"{ISSUER}\"\n\n[[profiles.{profile}.ssf.receivers]]\nname = \"rp\"\nendpoint = \"http://{addr}/\"\naudience = \"{AUDIENCE}\"\n"
        ),
    )
    .unwrap();
    let config = console.config().unwrap();
    let resolved = config.resolve(None).unwrap().clone();
    let log = console.audit_log().await.unwrap();
    let t = console.ssf_transmitter(&resolved, &log).unwrap().unwrap();
    t.emit(
        CaepEvent::SessionRevoked {
            reason_admin: "stolen".into(),
        },
        &subject(),
        None,
    )
    .await
    .unwrap();
    // The receiver is down: the first pass leaves it pending.
    let first = console.ssf_deliver_pending().await.unwrap().unwrap();
    assert_eq!((first.delivered, first.retrying, first.pending_total), (0, 1, 1));

    let rx = world("ssf-it-live-rx").await;
    let _stop = start_receiver(
        &rx,
        TcpListener::bind(addr).await.unwrap(),
        &serve_jwks(t.jwks()).await,
    )
    .await;
    t.retry_now().await.unwrap();
    let second = console.ssf_deliver_pending().await.unwrap().unwrap();
    assert_eq!((second.delivered, second.pending_total), (1, 0));
    assert_eq!(receive::recent(&rx.log, &rx.profile, 10).await.unwrap().len(), 1);
    keyring().delete(&key_name(profile).unwrap()).unwrap();
}
