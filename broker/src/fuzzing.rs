//! Entry points for the cargo-fuzz targets in `fuzz/` (and their stable-Rust smoke tests):
//! the SASL authenticator of a connection driven by a fuzzer-chosen script of frames, as
//! `connection.rs` drives it, with checks of what it must never do. Kafka counterpart: none
//! (Kafka's `SaslServerAuthenticatorTest` covers the same states by hand).
//!
//! The input is a script of steps, each `op, len (u16), payload`: raw frames, well-formed
//! ApiVersions / SaslHandshake / SaslAuthenticate requests with fuzzed fields, and tokens that
//! are right for the chosen mechanism (PLAIN with a fuzzed password, a SCRAM client-first and
//! a client-final with the proof computed from the server's challenge, an unsecured
//! OAUTHBEARER token with fuzzed claims), so the fuzzer reaches every state, re-authentication
//! included, instead of stopping at the first malformed header.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes, BytesMut};
use gregor_protocol::api_versions::ApiTable;
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};
use gregor_protocol::StrBytes;

use crate::security::sasl::oauthbearer::UnsecuredValidator;
use crate::security::sasl::{Authenticator, Outcome, SaslConfig};
use crate::security::scram_store::{Change, ScramCredential, ScramMechanism, ScramStore};

/// The one user of every mechanism, and its password.
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
/// The SCRAM credential's salt and iterations (Kafka's minimum).
const SALT: &[u8] = b"fuzz-salt";
const ITERATIONS: u32 = 4096;
/// The largest frame read before authentication (`sasl.server.max.receive.size`).
const MAX_RECEIVE: usize = 4096;

/// What every run shares: the listener's set-up and the client's salted passwords, made once.
struct Fixture {
    config: Arc<SaslConfig>,
    apis: ApiTable,
    /// SaltedPassword of each SCRAM mechanism, as the client derives it.
    salted: BTreeMap<ScramMechanism, Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // The store writes its file once here and then serves from memory: the folder goes.
        let dir = std::env::temp_dir().join(format!("gregor-fuzz-scram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder for the SCRAM store");
        let store = ScramStore::load(&dir).expect("an empty SCRAM store");
        let mut salted = BTreeMap::new();
        let mut changes = Vec::new();
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let s = m.salted_password(PASSWORD.as_bytes(), SALT, ITERATIONS);
            let credential = ScramCredential::from_salted_password(m, SALT, &s, ITERATIONS as i32);
            changes.push(Change::Upsert(USER.into(), m, credential));
            salted.insert(m, s);
        }
        store.apply(&changes).expect("writing the SCRAM store");
        let _ = std::fs::remove_dir_all(&dir);
        let mut users = BTreeMap::new();
        users.insert(USER.to_string(), PASSWORD.to_string());
        let config = SaslConfig {
            mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
                .map(String::from)
                .to_vec(),
            plain_users: Arc::new(users),
            oauth: UnsecuredValidator::default().into(),
            max_reauth_ms: 60_000,
            max_receive_size: MAX_RECEIVE,
            scram: Arc::new(store),
        };
        Fixture {
            config: Arc::new(config),
            apis: ApiTable::new(true),
            salted,
        }
    })
}

/// Mechanism names a handshake step picks from; the last byte of choice sends the payload.
const MECHANISMS: [&str; 6] = [
    "PLAIN",
    "SCRAM-SHA-256",
    "SCRAM-SHA-512",
    "OAUTHBEARER",
    "GSSAPI",
    "plain",
];

fn frame<T: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &T) -> Option<Bytes> {
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut out, key.request_header_version(version))
        .ok()?;
    body.encode(&mut out, version).ok()?;
    Some(out.freeze())
}

/// The client's side of the exchange, as far as the script needs it.
#[derive(Default)]
struct Client {
    /// The mechanism of the last handshake sent.
    mechanism: Option<String>,
    /// Whether that handshake was v0 (tokens travel raw).
    raw: bool,
    /// The SaslAuthenticate version of the last token sent.
    auth_version: i16,
    /// SCRAM: the client-first-bare sent, and the server-first received.
    client_first_bare: Option<String>,
    server_first: Option<String>,
}

impl Client {
    /// A SaslAuthenticate request (or a raw token after a v0 handshake) carrying `token`.
    fn token(&mut self, version: i16, token: Vec<u8>) -> Option<Bytes> {
        if self.raw {
            return Some(Bytes::from(token));
        }
        self.auth_version = version;
        let body = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        frame(ApiKey::SaslAuthenticate, version, 3, &body)
    }

    /// A token right for the current mechanism, shaped by `p`: its first byte picks a
    /// variant, the rest is text.
    fn good_token(&mut self, p: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(p.get(1..).unwrap_or_default()).into_owned();
        let which = p.first().copied().unwrap_or(0);
        match self.mechanism.as_deref() {
            Some("PLAIN") => {
                // The right password unless the payload says otherwise.
                let password = if which % 2 == 0 { PASSWORD } else { &text };
                format!("\0{USER}\0{password}").into_bytes()
            }
            Some(m @ ("SCRAM-SHA-256" | "SCRAM-SHA-512")) => {
                let mechanism = ScramMechanism::from_name(m).expect("a SCRAM name");
                match (&self.client_first_bare, &self.server_first) {
                    (Some(bare), Some(server_first)) if which % 4 != 0 => {
                        self.scram_final(mechanism, bare, server_first, which % 4 != 2)
                    }
                    _ => {
                        let nonce: String = text
                            .chars()
                            .filter(|c| c.is_ascii_graphic() && *c != ',')
                            .take(32)
                            .collect();
                        let bare = format!("n={USER},r=fuzz{nonce}");
                        self.client_first_bare = Some(bare.clone());
                        self.server_first = None;
                        format!("n,,{bare}").into_bytes()
                    }
                }
            }
            Some("OAUTHBEARER") => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let now_s = crate::broker::now_ms() / 1000;
                let claims = match which % 3 {
                    0 => format!(r#"{{"sub":"{USER}","iat":{now_s},"exp":{}}}"#, now_s + 600),
                    1 => format!(r#"{{"sub":"{USER}","exp":{}}}"#, now_s - 600),
                    _ => text.clone(),
                };
                let jwt = format!(
                    "{}.{}.",
                    b64.encode(br#"{"alg":"none"}"#),
                    b64.encode(claims)
                );
                format!("n,,\u{1}auth=Bearer {jwt}\u{1}\u{1}").into_bytes()
            }
            _ => p.to_vec(),
        }
    }

    /// The SCRAM client-final for `server_first`, with the right proof or a wrong one.
    fn scram_final(
        &self,
        mechanism: ScramMechanism,
        bare: &str,
        server_first: &str,
        right: bool,
    ) -> Vec<u8> {
        let nonce = server_first
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .unwrap_or_default();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let salted = &fixture().salted[&mechanism];
        let client_key = mechanism.hmac_of(salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let signature = mechanism.hmac_of(&stored_key, auth_message.as_bytes());
        let mut proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        if !right {
            proof[0] ^= 1;
        }
        use base64::Engine;
        let proof = base64::engine::general_purpose::STANDARD.encode(proof);
        format!("{without_proof},p={proof}").into_bytes()
    }

    /// Notes the server's challenge in `reply` (a SCRAM server-first).
    fn read_reply(&mut self, reply: &[u8]) {
        let token = if self.raw {
            reply.get(4..).map(<[u8]>::to_vec)
        } else {
            let mut bytes = Bytes::copy_from_slice(reply.get(4..).unwrap_or_default());
            ResponseHeader::decode(
                &mut bytes,
                ApiKey::SaslAuthenticate.response_header_version(self.auth_version),
            )
            .ok()
            .and_then(|_| SaslAuthenticateResponse::decode(&mut bytes, self.auth_version).ok())
            .map(|r| r.auth_bytes.to_vec())
        };
        if let Some(text) = token.and_then(|t| String::from_utf8(t).ok()) {
            if text.starts_with("r=") {
                self.server_first = Some(text);
            }
        }
    }
}

/// Runs the script in `data` against a fresh authenticator; returns how many times the
/// connection authenticated (re-authentications included). Panics when the authenticator
/// breaks a rule: a reply frame whose size prefix is wrong, or a PLAIN or SCRAM session for
/// anyone but the configured user.
pub fn sasl_exchange(mut data: &[u8]) -> u32 {
    let f = fixture();
    let mut auth = Authenticator::new(f.config.clone());
    let mut client = Client::default();
    let mut authenticated = false;
    let mut sessions = 0;
    while data.len() >= 3 {
        let op = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
        let p = &data[3..3 + len];
        data = &data[3 + len..];
        let byte = |i: usize| p.get(i).copied().unwrap_or(0);
        let mut is_token = false;
        let frame_bytes = match op % 6 {
            0 => Some(Bytes::copy_from_slice(p)),
            1 => frame(
                ApiKey::ApiVersions,
                i16::from(byte(0) % 5),
                1,
                &ApiVersionsRequest::default(),
            ),
            2 => {
                let version = i16::from(byte(0) % 2);
                let choice = usize::from(byte(1)) % (MECHANISMS.len() + 1);
                let name = MECHANISMS.get(choice).map_or_else(
                    || String::from_utf8_lossy(&p[2.min(p.len())..]).into_owned(),
                    |m| m.to_string(),
                );
                let body = SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_string(name.clone()));
                let built = frame(ApiKey::SaslHandshake, version, 2, &body);
                // The client's view follows what it asked for; the broker may refuse it.
                client.mechanism = Some(name);
                client.raw = version == 0;
                client.client_first_bare = None;
                client.server_first = None;
                built
            }
            3 => {
                is_token = true;
                client.token(
                    i16::from(byte(0) % 3),
                    p.get(1..).unwrap_or_default().to_vec(),
                )
            }
            4 => {
                is_token = true;
                let token = client.good_token(p.get(1..).unwrap_or_default());
                client.token(i16::from(byte(0) % 3), token)
            }
            _ => frame(ApiKey::Metadata, 12, 4, &MetadataRequest::default()),
        };
        let Some(frame_bytes) = frame_bytes else {
            continue;
        };
        if authenticated {
            // As the connection does: only a SaslHandshake of a client that can
            // re-authenticate goes back to the authenticator; the rest is served.
            let is_handshake = frame_bytes.len() >= 2
                && i16::from_be_bytes([frame_bytes[0], frame_bytes[1]])
                    == ApiKey::SaslHandshake as i16;
            if !(is_handshake && auth.supports_reauth()) {
                continue;
            }
            auth.begin_reauth(crate::security::principal::KafkaPrincipal::user(
                USER.to_string(),
            ));
            authenticated = false;
        } else if frame_bytes.len() > MAX_RECEIVE {
            // The connection refuses such a frame before the authenticator sees it.
            return sessions;
        }
        match auth.on_frame(frame_bytes, &f.apis) {
            Outcome::Reply(reply) => {
                check_frame(&reply);
                if is_token {
                    client.read_reply(&reply);
                }
            }
            Outcome::Authenticated {
                reply, principal, ..
            } => {
                check_frame(&reply);
                let mechanism = client.mechanism.as_deref().unwrap_or_default();
                if mechanism != "OAUTHBEARER" {
                    assert_eq!(
                        principal.name, USER,
                        "{mechanism} authenticated someone else"
                    );
                }
                authenticated = true;
                sessions += 1;
            }
            Outcome::Fail { reply, .. } => {
                check_frame(&reply);
                return sessions;
            }
        }
    }
    sessions
}

/// A reply is empty or one whole size-prefixed frame.
fn check_frame(reply: &[u8]) {
    if reply.is_empty() {
        return;
    }
    let mut r = reply;
    assert!(r.len() >= 4, "a reply shorter than its size prefix");
    let size = r.get_i32();
    assert_eq!(size as usize, r.len(), "a reply whose size prefix is wrong");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![op];
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// ApiVersions, a handshake of `mechanism` (index into MECHANISMS) at `version`, the
    /// right tokens (`variants` picks each one's shape), a Metadata request, then a
    /// re-authentication with the same tokens.
    fn script(mechanism: u8, version: u8, variants: &[u8]) -> Vec<u8> {
        let mut s = step(1, &[3]);
        for _ in 0..2 {
            s.extend(step(2, &[version, mechanism]));
            for v in variants {
                s.extend(step(4, &[2, *v]));
            }
            s.extend(step(5, &[]));
        }
        s
    }

    #[test]
    fn every_mechanism_authenticates_and_reauthenticates_after_a_v1_handshake() {
        for (mechanism, variants) in [(0u8, &[0u8][..]), (1, &[0, 1]), (2, &[0, 3]), (3, &[0])] {
            // v1: SaslAuthenticate framing, so the client re-authenticates (KIP-368).
            assert_eq!(
                sasl_exchange(&script(mechanism, 1, variants)),
                2,
                "{mechanism}"
            );
            // v0: raw tokens; the second handshake is served as an ordinary request.
            assert_eq!(
                sasl_exchange(&script(mechanism, 0, variants)),
                1,
                "{mechanism}"
            );
        }
    }

    #[test]
    fn wrong_credentials_and_unknown_mechanisms_authenticate_nobody() {
        // PLAIN with a fuzzed password, SCRAM with a wrong proof, an expired token, GSSAPI.
        let mut wrong_plain = step(2, &[1, 0]);
        wrong_plain.extend(step(4, &[2, 1, b'x']));
        assert_eq!(sasl_exchange(&wrong_plain), 0);
        assert_eq!(sasl_exchange(&script(1, 1, &[0, 2])), 0);
        assert_eq!(sasl_exchange(&script(3, 1, &[1])), 0);
        assert_eq!(sasl_exchange(&script(4, 1, &[0])), 0);
        // A request other than ApiVersions or SaslHandshake first closes the connection.
        let mut early = step(5, &[]);
        early.extend(script(0, 1, &[0]));
        assert_eq!(sasl_exchange(&early), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_script_keeps_the_rules(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            sasl_exchange(&data);
        }
    }
}
