//! A bare client's way through an SSL or SASL_SSL listener, for the benchmark's raw load over
//! them: a rustls client connection that trusts the test CA, and a SCRAM-SHA-256 login
//! (SaslHandshake v1, then SaslAuthenticate v2 carrying RFC 5802's messages), as a Kafka
//! client's `SaslClientAuthenticator` does it. What follows the login is plain Kafka frames.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use gregor_protocol::StrBytes;
use ring::{digest, hmac, pbkdf2};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A TLS client connection over TCP, read and written as one stream.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects to `addr` (an IP address and port) and starts TLS, trusting the CA certificate in
/// `ca_pem`; the handshake completes with the first read or write.
pub fn connect_tls(addr: &str, ca_pem: &Path) -> anyhow::Result<TlsStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .with_context(|| format!("reading {}", ca_pem.display()))?
    {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
    let name = ServerName::try_from(host).context("the listener's host name")?;
    let tcp = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let tls = rustls::ClientConnection::new(Arc::new(config), name)?;
    Ok(rustls::StreamOwned::new(tls, tcp))
}

/// Logs in as `user` with SCRAM-SHA-256, failing on any error the broker answers or a server
/// signature that does not prove it knows the password.
pub fn scram_sha256_login(
    stream: &mut (impl Read + Write),
    user: &str,
    password: &str,
) -> anyhow::Result<()> {
    let handshake: SaslHandshakeResponse = call(
        stream,
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("SCRAM-SHA-256")),
    )?;
    if handshake.error_code != 0 {
        bail!(
            "SaslHandshake: error {} (enabled: {:?})",
            handshake.error_code,
            handshake.mechanisms
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let nonce = format!("gregor-bench-{}", std::process::id());
    let client_first_bare = format!(
        "n={},r={nonce}",
        user.replace('=', "=3D").replace(',', "=2C")
    );
    let server_first = authenticate(stream, format!("n,,{client_first_bare}").into_bytes())?;
    let server_first = String::from_utf8(server_first)?;
    let field = |name: &str| {
        server_first
            .split(',')
            .find_map(|f| f.strip_prefix(name))
            .with_context(|| format!("no {name} in the server's first message {server_first:?}"))
    };
    let (combined_nonce, salt, iterations) =
        (field("r=")?, b64.decode(field("s=")?)?, field("i=")?);
    if !combined_nonce.starts_with(&nonce) {
        bail!("the server's nonce does not extend the client's");
    }
    let iterations: u32 = iterations.parse()?;
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).context("zero iterations")?,
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&salted, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let without_proof = format!("c={},r={combined_nonce}", b64.encode("n,,"));
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()),
        auth_message.as_bytes(),
    );
    let proof: Vec<u8> = client_key
        .as_ref()
        .iter()
        .zip(signature.as_ref())
        .map(|(k, s)| k ^ s)
        .collect();
    let client_final = format!("{without_proof},p={}", b64.encode(proof));
    let server_final = String::from_utf8(authenticate(stream, client_final.into_bytes())?)?;
    let server_key = hmac::sign(&salted, b"Server Key");
    let expected = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()),
        auth_message.as_bytes(),
    );
    if server_final != format!("v={}", b64.encode(expected.as_ref())) {
        bail!("the server's final SCRAM message {server_final:?} does not verify");
    }
    Ok(())
}

/// One SaslAuthenticate round: sends `bytes`, returns the broker's.
fn authenticate(stream: &mut (impl Read + Write), bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let response: SaslAuthenticateResponse = call(
        stream,
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes.into()),
    )?;
    if response.error_code != 0 {
        bail!(
            "SaslAuthenticate: error {} {:?}",
            response.error_code,
            response.error_message
        );
    }
    Ok(response.auth_bytes.to_vec())
}

/// Sends one request and reads its response (nothing else is in flight during a login).
fn call<T: Encodable, R: Decodable>(
    stream: &mut (impl Read + Write),
    key: ApiKey,
    version: i16,
    body: &T,
) -> anyhow::Result<R> {
    let mut buf = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("gregor-bench-raw")))
        .encode(&mut buf, key.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    stream.write_all(&(buf.len() as i32).to_be_bytes())?;
    stream.write_all(&buf)?;
    stream.flush()?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(4..=1 << 20).contains(&size) {
        bail!("{key:?} response size {size}");
    }
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame)?;
    let mut frame = bytes::Bytes::from(frame);
    ResponseHeader::decode(&mut frame, key.response_header_version(version))?;
    R::decode(&mut frame, version)
}
