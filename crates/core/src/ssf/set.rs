//! Security Event Tokens as the Shared Signals Framework profiles them: RFC 8417 SETs
//! (`typ: secevent+jwt`, `iss`, `iat`, `jti`, `aud`, one member in `events`, no `exp`) whose
//! subject is a top-level `sub_id` in RFC 9493 format, carrying CAEP 1.0 `session-revoked`
//! and `credential-change` events. Building and validation live side by side so every SET we
//! emit is checked by the same rules we apply to the SETs we receive.

use gatehouse_jwt::{Algorithm, KeySet, Policy, Signer, Verifier};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The JWS `typ` of a SET (RFC 8417 s2.3).
pub const TYP: &str = "secevent+jwt";
/// The HTTP media type of a pushed SET (RFC 8935 s2).
pub const MEDIA_TYPE: &str = "application/secevent+jwt";
pub const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// Event types this implementation emits and accepts.
pub const KNOWN_EVENTS: [&str; 2] = [SESSION_REVOKED, CREDENTIAL_CHANGE];
const CHANGE_TYPES: [&str; 4] = ["create", "revoke", "update", "delete"];
const MAX_ID: usize = 512;

/// An RFC 9493 Subject Identifier of the formats we emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum SubjectId {
    IssSub {
        iss: String,
        sub: String,
    },
    Opaque {
        id: String,
    },
    /// RFC 9493 s3.2.3 "complex": several facets of one subject.
    Complex {
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<Box<SubjectId>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<Box<SubjectId>>,
    },
}

/// What happened, in CAEP terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaepEvent {
    SessionRevoked {
        reason_admin: String,
    },
    /// A forced password reset: the current password is revoked.
    CredentialChange {
        credential_type: String,
        change_type: String,
        reason_admin: String,
    },
}

impl CaepEvent {
    pub fn uri(&self) -> &'static str {
        match self {
            CaepEvent::SessionRevoked { .. } => SESSION_REVOKED,
            CaepEvent::CredentialChange { .. } => CREDENTIAL_CHANGE,
        }
    }

    fn body(&self, event_timestamp: i64) -> Value {
        match self {
            CaepEvent::SessionRevoked { reason_admin } => json!({
                "event_timestamp": event_timestamp,
                "initiating_entity": "admin",
                "reason_admin": { "en": reason_admin },
            }),
            CaepEvent::CredentialChange {
                credential_type,
                change_type,
                reason_admin,
            } => json!({
                "event_timestamp": event_timestamp,
                "initiating_entity": "admin",
                "reason_admin": { "en": reason_admin },
                "credential_type": credential_type,
                "change_type": change_type,
            }),
        }
    }
}

/// Everything a SET says, before signing.
#[derive(Debug, Clone)]
pub struct SetContent {
    pub issuer: String,
    pub audience: String,
    pub jti: String,
    pub iat: i64,
    /// RFC 8417 `txn`: the containment action this event reports.
    pub txn: Option<String>,
    pub subject: SubjectId,
    pub event: CaepEvent,
}

impl SetContent {
    /// The claim set (no `exp`: SSF SETs are statements of fact, not credentials).
    pub fn claims(&self) -> Value {
        let mut events = Map::new();
        events.insert(self.event.uri().to_owned(), self.event.body(self.iat));
        let mut c = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "jti": self.jti,
            "iat": self.iat,
            "sub_id": self.subject,
            "events": events,
        });
        if let (Some(txn), Some(obj)) = (&self.txn, c.as_object_mut()) {
            obj.insert("txn".into(), Value::String(txn.clone()));
        }
        c
    }

    pub fn sign(&self, signer: &Signer) -> Result<String, SetError> {
        signer
            .sign_with_typ(&self.claims(), TYP)
            .map_err(|e| SetError::Invalid(format!("signing failed: {e}")))
    }
}

/// Why a SET was refused. [`SetError::err_code`] is the RFC 8935 s2.4 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("signature or key: {0}")]
    Key(String),
    #[error("issuer is not the configured transmitter")]
    Issuer,
    #[error("audience does not include this receiver")]
    Audience,
    #[error("{0}")]
    Invalid(String),
}

impl SetError {
    pub fn err_code(&self) -> &'static str {
        match self {
            SetError::Key(_) => "invalid_key",
            SetError::Issuer => "invalid_issuer",
            SetError::Audience => "invalid_audience",
            SetError::Invalid(_) => "invalid_request",
        }
    }
}

/// A SET that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSet {
    pub iss: String,
    pub jti: String,
    pub iat: i64,
    pub txn: Option<String>,
    pub event_uri: String,
    pub event: Value,
    pub subject: Value,
}

/// What a receiver accepts: one transmitter, its keys, our audience.
#[derive(Debug, Clone)]
pub struct SetRules {
    pub issuer: String,
    pub audience: String,
    pub keys: KeySet,
    /// Clock skew tolerated on `iat`.
    pub leeway_secs: i64,
}

fn invalid(s: impl Into<String>) -> SetError {
    SetError::Invalid(s.into())
}

/// Validates a SET: JWS (strict, `gatehouse-jwt`), `typ`, `iss`, `aud`, `iat`, `jti`, no
/// `exp`, exactly one known event with its required claims, and an RFC 9493 `sub_id`.
pub fn validate(token: &str, rules: &SetRules, now: i64) -> Result<ValidSet, SetError> {
    let policy = Policy::new(
        rules.issuer.clone(),
        [rules.audience.clone()],
        [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::PS256,
        ],
    );
    let jws = Verifier::new(policy, rules.keys.clone())
        .verify_signature(token)
        .map_err(|r| match r.reason {
            gatehouse_jwt::RejectReason::UnknownKid
            | gatehouse_jwt::RejectReason::BadSignature
            | gatehouse_jwt::RejectReason::AlgNotAllowed => SetError::Key(r.reason.as_str().to_owned()),
            _ => invalid(format!("not a valid JWS: {}", r.reason)),
        })?;
    let typ_ok = jws
        .header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case(MEDIA_TYPE));
    if !typ_ok {
        return Err(invalid("typ must be secevent+jwt (RFC 8417 s2.3)"));
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&jws.payload).map_err(|_| invalid("claims are not a JSON object"))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(SetError::Issuer)?;
    if iss != rules.issuer {
        return Err(SetError::Issuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == rules.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&rules.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(SetError::Audience);
    }
    if claims.contains_key("exp") {
        return Err(invalid("exp must not be used in a SET (SSF 1.0)"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("iat must be an integer NumericDate"))?;
    if iat > now + rules.leeway_secs {
        return Err(invalid("iat is in the future"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_ID)
        .ok_or_else(|| invalid("jti must be a non-empty string"))?;
    let txn = match claims.get("txn") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(invalid("txn must be a string")),
    };
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("events must be a JSON object"))?;
    let mut members = events.iter();
    let (Some((uri, body)), None) = (members.next(), members.next()) else {
        return Err(invalid("events must hold exactly one event (SSF 1.0)"));
    };
    if !KNOWN_EVENTS.contains(&uri.as_str()) {
        return Err(invalid("unsupported event type"));
    }
    let body = body
        .as_object()
        .ok_or_else(|| invalid("the event must be a JSON object"))?;
    if let Some(ts) = body.get("event_timestamp")
        && !ts.is_i64()
    {
        return Err(invalid("event_timestamp must be an integer"));
    }
    if uri == CREDENTIAL_CHANGE {
        if !body.get("credential_type").is_some_and(Value::is_string) {
            return Err(invalid("credential-change needs credential_type"));
        }
        let change = body.get("change_type").and_then(Value::as_str);
        if !change.is_some_and(|c| CHANGE_TYPES.contains(&c)) {
            return Err(invalid("change_type must be create, revoke, update or delete"));
        }
    }
    let subject = claims
        .get("sub_id")
        .ok_or_else(|| invalid("sub_id is required (SSF 1.0)"))?;
    check_subject(subject, 0)?;
    Ok(ValidSet {
        iss: iss.to_owned(),
        jti: jti.to_owned(),
        iat,
        txn,
        event_uri: uri.clone(),
        event: Value::Object(body.clone()),
        subject: subject.clone(),
    })
}

/// RFC 9493 s3: a JSON object with a `format` and that format's required members.
pub fn check_subject(v: &Value, depth: usize) -> Result<(), SetError> {
    let obj = v.as_object().ok_or_else(|| invalid("sub_id must be an object"))?;
    let format = obj
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("sub_id needs a format"))?;
    let need = |members: &[&str]| -> Result<(), SetError> {
        for m in members {
            let ok = obj
                .get(*m)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty() && s.len() <= MAX_ID);
            if !ok {
                return Err(invalid(format!("sub_id format {format} needs {m}")));
            }
        }
        Ok(())
    };
    match format {
        "account" | "uri" => need(&["uri"]),
        "email" => need(&["email"]),
        "iss_sub" => need(&["iss", "sub"]),
        "opaque" => need(&["id"]),
        "phone_number" => need(&["phone_number"]),
        "did" => need(&["url"]),
        "aliases" if depth == 0 => {
            let ids = obj
                .get("identifiers")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| invalid("aliases needs identifiers"))?;
            ids.iter().try_for_each(|i| check_subject(i, depth + 1))
        }
        "complex" if depth == 0 => {
            let facets = [
                "user",
                "device",
                "session",
                "application",
                "tenant",
                "org_unit",
                "group",
            ];
            let mut any = false;
            for f in facets {
                if let Some(s) = obj.get(f) {
                    check_subject(s, depth + 1)?;
                    any = true;
                }
            }
            if any {
                Ok(())
            } else {
                Err(invalid("a complex sub_id needs at least one facet"))
            }
        }
        _ => Err(invalid("unsupported or misplaced sub_id format")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gatehouse_jwt::{Limits, decode_unverified};

    fn content(event: CaepEvent) -> SetContent {
        SetContent {
            issuer: "https://gatehouse.test/prod".into(),
            audience: "https://rp.example".into(),
            jti: "set-1".into(),
            iat: 1_750_000_000,
            txn: Some("act_1".into()),
            subject: SubjectId::Complex {
                user: Some(Box::new(SubjectId::IssSub {
                    iss: "https://idp.example".into(),
                    sub: "42".into(),
                })),
                session: Some(Box::new(SubjectId::Opaque { id: "s-1".into() })),
            },
            event,
        }
    }

    fn rules(signer: &Signer) -> SetRules {
        SetRules {
            issuer: "https://gatehouse.test/prod".into(),
            audience: "https://rp.example".into(),
            keys: signer.key_set(),
            leeway_secs: 60,
        }
    }

    fn revoked() -> CaepEvent {
        CaepEvent::SessionRevoked {
            reason_admin: "stolen session".into(),
        }
    }

    #[test]
    fn an_emitted_session_revoked_set_has_the_ssf_shape_and_validates() {
        let signer = Signer::generate_ed25519("ssf-1");
        let token = content(revoked()).sign(&signer).unwrap();
        let d = decode_unverified(&token, &Limits::default()).unwrap();
        assert_eq!(d.header["typ"], "secevent+jwt");
        assert!(d.claims.get("exp").is_none());
        assert!(d.claims.get("sub").is_none());
        assert_eq!(
            d.claims["sub_id"],
            json!({"format": "complex",
                   "user": {"format": "iss_sub", "iss": "https://idp.example", "sub": "42"},
                   "session": {"format": "opaque", "id": "s-1"}})
        );
        assert_eq!(d.claims["events"].as_object().unwrap().len(), 1);
        assert_eq!(
            d.claims["events"][SESSION_REVOKED]["event_timestamp"],
            1_750_000_000
        );
        let v = validate(&token, &rules(&signer), 1_750_000_010).unwrap();
        assert_eq!(v.event_uri, SESSION_REVOKED);
        assert_eq!(v.txn.as_deref(), Some("act_1"));
    }

    #[test]
    fn a_credential_change_carries_its_required_claims() {
        let signer = Signer::generate_ed25519("ssf-1");
        let token = content(CaepEvent::CredentialChange {
            credential_type: "password".into(),
            change_type: "revoke".into(),
            reason_admin: "forced reset".into(),
        })
        .sign(&signer)
        .unwrap();
        let v = validate(&token, &rules(&signer), 1_750_000_000).unwrap();
        assert_eq!(v.event_uri, CREDENTIAL_CHANGE);
        assert_eq!(v.event["credential_type"], "password");
        assert_eq!(v.event["change_type"], "revoke");
    }

    fn signed(signer: &Signer, claims: &Value, typ: &str) -> String {
        signer.sign_with_typ(claims, typ).unwrap()
    }

    #[test]
    fn each_ssf_rule_refuses_with_the_rfc_8935_error_code() {
        let signer = Signer::generate_ed25519("ssf-1");
        let r = rules(&signer);
        let now = 1_750_000_000;
        let base = content(revoked()).claims();
        let with = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut c = base.clone();
            f(c.as_object_mut().unwrap());
            c
        };
        let cases: Vec<(String, &str)> = vec![
            (signed(&signer, &base, "JWT"), "invalid_request"),
            (
                signed(&Signer::generate_ed25519("ssf-1"), &base, TYP),
                "invalid_key",
            ),
            (
                signed(&Signer::generate_ed25519("other"), &base, TYP),
                "invalid_key",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("iss".into(), json!("https://evil"));
                    }),
                    TYP,
                ),
                "invalid_issuer",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("aud".into(), json!(["x"]));
                    }),
                    TYP,
                ),
                "invalid_audience",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("exp".into(), json!(now + 60));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.remove("jti");
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.remove("sub_id");
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("sub_id".into(), json!({"format": "email"}));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("sub_id".into(), json!({"format": "complex"}));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("iat".into(), json!(now + 3600));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("events".into(), json!({"https://example.com/other": {}}));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("events".into(), json!({SESSION_REVOKED: {}, CREDENTIAL_CHANGE: {"credential_type": "password", "change_type": "update"}}));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
            (
                signed(
                    &signer,
                    &with(&|c| {
                        c.insert("events".into(), json!({CREDENTIAL_CHANGE: {"credential_type": "password", "change_type": "rotated"}}));
                    }),
                    TYP,
                ),
                "invalid_request",
            ),
        ];
        for (i, (token, code)) in cases.iter().enumerate() {
            let got = validate(token, &r, now).map(|_| ()).map_err(|e| e.err_code());
            assert_eq!(got, Err(*code), "case {i}");
        }
        // The unmodified claims pass, so each case above fails for its one change.
        assert!(validate(&signed(&signer, &base, TYP), &r, now).is_ok());
        assert!(validate(&signed(&signer, &base, MEDIA_TYPE), &r, now).is_ok());
    }
}
