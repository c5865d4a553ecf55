//! Hostile input on the TLS and SASL listeners: garbage instead of a TLS ClientHello, a SASL
//! exchange that stalls, a huge SaslAuthenticate frame and a Metadata request before
//! authentication. Each closes only its own connection; a client on a connection of its own
//! keeps being served.

use std::time::Duration;

use gregor_itests::raw::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::security::{listener_port, openssl_available, Certs};
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";";

/// A SASL/PLAIN login on a fresh connection, then an ApiVersions: proof the listener serves.
fn authenticated_client(addr: &str) -> anyhow::Result<RawClient> {
    let mut c = RawClient::connect(addr)?;
    let h: SaslHandshakeResponse = c.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    assert_eq!(h.error_code, 0);
    let a: SaslAuthenticateResponse = c.call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(b"\0alice\0alice-secret".to_vec().into()),
    )?;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    let v: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(v.error_code, 0);
    Ok(c)
}

/// Whether the broker closes the connection, after whatever TLS alert it sends first.
fn closed_after_alert(client: &mut RawClient) -> bool {
    for _ in 0..16 {
        if client.is_closed_by_peer() {
            return true;
        }
    }
    false
}

#[test]
fn hostile_clients_close_only_their_own_connections() -> anyhow::Result<()> {
    if !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
            .to_string(),
        "--set".to_string(),
        JAAS.to_string(),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A stalled exchange is cut off after half a second instead of 30.
    let broker = TestBroker::start_with_env(&args, &[("GREGOR_TEST_AUTH_TIMEOUT_MS", "500")])?;
    let ssl = format!("127.0.0.1:{}", listener_port(&broker, "SSL")?);
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);
    let mut good = authenticated_client(&sasl)?;

    // Garbage where a TLS ClientHello belongs: the handshake fails and the socket closes.
    let mut garbage = RawClient::connect(&ssl)?;
    garbage.send_bytes(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff])?;
    assert!(closed_after_alert(&mut garbage), "garbage ClientHello");
    // A Kafka request in plain text on the TLS port: the same.
    let mut plaintext = RawClient::connect(&ssl)?;
    let frame = plaintext.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    plaintext.send_bytes(&frame)?;
    assert!(
        closed_after_alert(&mut plaintext),
        "plaintext on the TLS port"
    );

    // A request other than ApiVersions and SASL before authenticating: closed, as Kafka does.
    let mut early = RawClient::connect(&sasl)?;
    let frame = early.frame(ApiKey::Metadata, 12, &MetadataRequest::default())?;
    early.send_bytes(&frame)?;
    assert!(early.is_closed_by_peer(), "Metadata before authentication");

    // A huge SaslAuthenticate before authentication: the frame size alone closes it, far
    // below socket.request.max.bytes.
    let mut huge = RawClient::connect(&sasl)?;
    let h: SaslHandshakeResponse = huge.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    assert_eq!(h.error_code, 0);
    huge.send_bytes(&(10_i32 << 20).to_be_bytes())?;
    huge.send_bytes(&[0u8; 1024])?;
    assert!(huge.is_closed_by_peer(), "a 10 MiB SaslAuthenticate");

    // A stalled exchange: the handshake, then nothing. Closed once the auth timeout passes.
    let mut stalled = RawClient::connect(&sasl)?;
    stalled.set_read_timeout(Duration::from_secs(20))?;
    let _: SaslHandshakeResponse = stalled.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    assert!(stalled.is_closed_by_peer(), "a stalled SASL exchange");

    // A wrong password: SASL_AUTHENTICATION_FAILED with Kafka's message, then closed.
    let mut wrong = RawClient::connect(&sasl)?;
    let _: SaslHandshakeResponse = wrong.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    let a: SaslAuthenticateResponse = wrong.call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(b"\0alice\0nope".to_vec().into()),
    )?;
    assert_eq!(a.error_code, 58);
    assert_eq!(
        a.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(wrong.is_closed_by_peer());

    // The authenticated client on its own connection was never disturbed, and new ones work.
    let v: ApiVersionsResponse =
        good.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(v.error_code, 0);
    authenticated_client(&sasl)?;
    let mut plain = RawClient::connect(&broker.bootstrap())?;
    let v: ApiVersionsResponse =
        plain.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(v.error_code, 0);
    assert!(!broker.log().contains("panicked"));
    Ok(())
}
