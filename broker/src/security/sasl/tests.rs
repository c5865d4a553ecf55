//! The authenticator driven with real request frames: the orders Kafka accepts, the ones it
//! closes on, and Kafka's failure messages.

use super::*;
use bytes::Buf;
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};

fn frame<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("test")))
        .encode(&mut out, key.request_header_version(version))
        .unwrap();
    body.encode(&mut out, version).unwrap();
    out.freeze()
}

fn config(mechanisms: &[&str], max_reauth_ms: i64) -> (tempfile::TempDir, Arc<SaslConfig>) {
    let dir = tempfile::tempdir().unwrap();
    let mut users = BTreeMap::new();
    users.insert("alice".to_string(), "alice-secret".to_string());
    let config = SaslConfig {
        mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
        plain_users: Arc::new(users),
        oauth: UnsecuredValidator::default().into(),
        max_reauth_ms,
        max_receive_size: 524_288,
        scram: Arc::new(ScramStore::load(dir.path()).unwrap()),
    };
    (dir, Arc::new(config))
}

fn handshake(mechanism: &str, version: i16) -> Bytes {
    frame(
        ApiKey::SaslHandshake,
        version,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
    )
}

fn authenticate(token: &[u8], version: i16) -> Bytes {
    frame(
        ApiKey::SaslAuthenticate,
        version,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    )
}

/// The SaslAuthenticate response in a reply frame.
fn authenticate_response(reply: &BytesMut, version: i16) -> SaslAuthenticateResponse {
    let mut bytes = Bytes::copy_from_slice(&reply[4..]);
    ResponseHeader::decode(
        &mut bytes,
        ApiKey::SaslAuthenticate.response_header_version(version),
    )
    .unwrap();
    let r = SaslAuthenticateResponse::decode(&mut bytes, version).unwrap();
    assert!(!bytes.has_remaining());
    r
}

#[test]
fn plain_over_kip_152_framing_authenticates_with_a_session_lifetime() {
    let apis = ApiTable::new(true);
    let (_dir, config) = config(&["PLAIN"], 60_000);
    let mut a = Authenticator::new(config);
    let versions = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(matches!(a.on_frame(versions, &apis), Outcome::Reply(_)));
    assert!(matches!(
        a.on_frame(handshake("PLAIN", 1), &apis),
        Outcome::Reply(_)
    ));
    match a.on_frame(authenticate(b"\0alice\0alice-secret", 2), &apis) {
        Outcome::Authenticated {
            reply,
            principal,
            expires,
        } => {
            assert_eq!(principal.to_string(), "User:alice");
            assert!(expires.is_some());
            let r = authenticate_response(&reply, 2);
            assert_eq!(r.error_code, 0);
            assert_eq!(r.session_lifetime_ms, 60_000);
        }
        other => panic!("{other:?}"),
    }
    assert!(a.supports_reauth());
    // Re-authentication: same mechanism and principal.
    a.begin_reauth(KafkaPrincipal::user("alice"));
    assert!(matches!(
        a.on_frame(handshake("PLAIN", 1), &apis),
        Outcome::Reply(_)
    ));
    assert!(matches!(
        a.on_frame(authenticate(b"\0alice\0alice-secret", 2), &apis),
        Outcome::Authenticated { .. }
    ));
}

#[test]
fn wrong_passwords_answer_kafkas_message_then_close() {
    let apis = ApiTable::new(true);
    let (_dir, config) = config(&["PLAIN", "SCRAM-SHA-256"], 0);
    let mut a = Authenticator::new(config.clone());
    a.on_frame(handshake("PLAIN", 1), &apis);
    match a.on_frame(authenticate(b"\0alice\0wrong", 1), &apis) {
        Outcome::Fail { reply, .. } => {
            let r = authenticate_response(&reply, 1);
            assert_eq!(r.error_code, ResponseError::SaslAuthenticationFailed.code());
            assert_eq!(
                r.error_message.as_deref(),
                Some("Authentication failed: Invalid username or password")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut a = Authenticator::new(config);
    a.on_frame(handshake("SCRAM-SHA-256", 1), &apis);
    match a.on_frame(authenticate(b"n,,n=nobody,r=abc", 1), &apis) {
        Outcome::Fail { reply, .. } => {
            let r = authenticate_response(&reply, 1);
            assert_eq!(
                r.error_message.as_deref(),
                Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn requests_out_of_turn_and_unknown_mechanisms_close() {
    let apis = ApiTable::new(true);
    let (_dir, config) = config(&["PLAIN"], 0);
    let metadata = frame(ApiKey::Metadata, 12, &MetadataRequest::default());
    let mut a = Authenticator::new(config.clone());
    assert!(matches!(
        a.on_frame(metadata.clone(), &apis),
        Outcome::Fail { .. }
    ));
    // After the handshake, only SaslAuthenticate.
    let mut a = Authenticator::new(config.clone());
    a.on_frame(handshake("PLAIN", 1), &apis);
    assert!(matches!(a.on_frame(metadata, &apis), Outcome::Fail { .. }));
    // ApiVersions only before the handshake, once.
    let mut a = Authenticator::new(config.clone());
    let versions = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    a.on_frame(versions.clone(), &apis);
    assert!(matches!(a.on_frame(versions, &apis), Outcome::Fail { .. }));
    // A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then close.
    let mut a = Authenticator::new(config.clone());
    match a.on_frame(handshake("GSSAPI", 1), &apis) {
        Outcome::Fail { reply, .. } => {
            let mut bytes = Bytes::copy_from_slice(&reply[4..]);
            ResponseHeader::decode(&mut bytes, 0).unwrap();
            let r = SaslHandshakeResponse::decode(&mut bytes, 1).unwrap();
            assert_eq!(r.error_code, ResponseError::UnsupportedSaslMechanism.code());
            assert_eq!(r.mechanisms, vec![StrBytes::from_static_str("PLAIN")]);
        }
        other => panic!("{other:?}"),
    }
    // Garbage.
    let mut a = Authenticator::new(config);
    assert!(matches!(
        a.on_frame(
            Bytes::from_static(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"),
            &apis
        ),
        Outcome::Fail { .. }
    ));
}

#[test]
fn handshake_v0_exchanges_raw_tokens() {
    let apis = ApiTable::new(true);
    let (_dir, config) = config(&["PLAIN"], 0);
    let mut a = Authenticator::new(config.clone());
    assert!(matches!(
        a.on_frame(handshake("PLAIN", 0), &apis),
        Outcome::Reply(_)
    ));
    match a.on_frame(Bytes::from_static(b"\0alice\0alice-secret"), &apis) {
        Outcome::Authenticated { reply, expires, .. } => {
            assert_eq!(&reply[..], &[0, 0, 0, 0]);
            assert!(expires.is_none());
        }
        other => panic!("{other:?}"),
    }
    let mut a = Authenticator::new(config);
    a.on_frame(handshake("PLAIN", 0), &apis);
    assert!(matches!(
        a.on_frame(Bytes::from_static(b"\0alice\0nope"), &apis),
        Outcome::Fail { .. }
    ));
}

#[test]
fn reauthentication_keeps_the_principal_and_the_mechanism() {
    let apis = ApiTable::new(true);
    let (_dir, config) = config(&["PLAIN", "OAUTHBEARER"], 0);
    let mut a = Authenticator::new(config.clone());
    a.on_frame(handshake("PLAIN", 1), &apis);
    a.on_frame(authenticate(b"\0alice\0alice-secret", 2), &apis);
    a.begin_reauth(KafkaPrincipal::user("bob"));
    a.on_frame(handshake("PLAIN", 1), &apis);
    match a.on_frame(authenticate(b"\0alice\0alice-secret", 2), &apis) {
        Outcome::Fail { reply, .. } => {
            let r = authenticate_response(&reply, 2);
            assert!(r
                .error_message
                .as_deref()
                .unwrap()
                .starts_with("Cannot change principals during re-authentication"));
        }
        other => panic!("{other:?}"),
    }
    let mut a = Authenticator::new(config);
    a.on_frame(handshake("PLAIN", 1), &apis);
    a.on_frame(authenticate(b"\0alice\0alice-secret", 2), &apis);
    a.begin_reauth(KafkaPrincipal::user("alice"));
    assert!(matches!(
        a.on_frame(handshake("OAUTHBEARER", 1), &apis),
        Outcome::Reply(_)
    ));
    match a.on_frame(authenticate(b"x", 2), &apis) {
        Outcome::Fail { reply, .. } => {
            let r = authenticate_response(&reply, 2);
            assert!(r
                .error_message
                .as_deref()
                .unwrap()
                .contains("re-authentication of mechanism 'PLAIN'"));
        }
        other => panic!("{other:?}"),
    }
}
