//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) against the credentials of the
//! `ScramStore`, without channel binding, as Kafka serves them. Kafka counterpart:
//! `ScramSaslServer`, `ScramFormatter` and `ScramMessages`.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::{constant_time_eq, Failure, Step};
use crate::security::scram_store::{ScramCredential, ScramMechanism, ScramStore};

/// Where the exchange stands.
#[derive(Debug)]
enum State {
    /// Waiting for `n,,n=user,r=nonce`.
    ClientFirst,
    /// Server-first sent; waiting for `c=...,r=...,p=proof`.
    ClientFinal {
        user: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        credential: ScramCredential,
    },
    Done,
}

/// One SCRAM exchange.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    store: Arc<ScramStore>,
    state: State,
}

impl ScramServer {
    /// A server for `mechanism` checking against `store`.
    pub fn new(mechanism: ScramMechanism, store: Arc<ScramStore>) -> ScramServer {
        ScramServer {
            mechanism,
            store,
            state: State::ClientFirst,
        }
    }

    /// Takes the client's next message.
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, Failure> {
        let text = std::str::from_utf8(token).map_err(|_| refused("not UTF-8"))?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => self.client_first(text),
            State::ClientFinal {
                user,
                client_first_bare,
                server_first,
                nonce,
                credential,
            } => {
                let (without_proof, proof) =
                    text.rsplit_once(",p=").ok_or_else(|| refused("no proof"))?;
                let client_nonce = without_proof
                    .split(',')
                    .find_map(|a| a.strip_prefix("r="))
                    .ok_or_else(|| refused("no nonce in the final message"))?;
                // Kafka checks only that the nonce ends with the one it sent: librdkafka (2.0
                // at least) puts its own nonce in front of the combined one.
                if !without_proof.starts_with("c=") || !client_nonce.ends_with(&nonce) {
                    return Err(refused(
                        "the final message's nonce or channel binding differs",
                    ));
                }
                let proof = B64.decode(proof).map_err(|_| refused("proof not base64"))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let signature = self
                    .mechanism
                    .hmac_of(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(refused("proof of the wrong length"));
                }
                let client_key: Vec<u8> =
                    proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                if !constant_time_eq(&self.mechanism.hash(&client_key), &credential.stored_key) {
                    return Err(refused("wrong password"));
                }
                let server_signature = self
                    .mechanism
                    .hmac_of(&credential.server_key, auth_message.as_bytes());
                Ok(Step::Done {
                    response: format!("v={}", B64.encode(server_signature)).into_bytes(),
                    user,
                    expires_ms: None,
                })
            }
            State::Done => Err(refused("message after the exchange")),
        }
    }

    fn client_first(&mut self, text: &str) -> Result<Step, Failure> {
        // gs2 header: "n" (no channel binding), an optional authzid, then the bare message.
        let malformed = || refused("malformed client-first message");
        let rest = text.strip_prefix("n,").ok_or_else(malformed)?;
        let (authzid, bare) = rest.split_once(',').ok_or_else(malformed)?;
        let authzid = match authzid {
            "" => "",
            a => a.strip_prefix("a=").ok_or_else(malformed)?,
        };
        let mut attributes = bare.split(',');
        let name = attributes
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or_else(malformed)?;
        let client_nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(malformed)?;
        let user = unescape_name(name).ok_or_else(malformed)?;
        let credential = self
            .store
            .get(&user, self.mechanism)
            .ok_or_else(|| refused("no such user for this mechanism"))?;
        if !authzid.is_empty() && unescape_name(authzid).as_deref() != Some(user.as_str()) {
            return Err(Failure::message("Authentication failed: Client requested an authorization id that is different from username"));
        }
        if credential.iterations < self.mechanism.min_iterations() {
            return Err(refused("too few iterations"));
        }
        let nonce = format!("{client_nonce}{}", server_nonce());
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::ClientFinal {
            user,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            credential,
        };
        Ok(Step::Continue(server_first.into_bytes()))
    }
}

/// A generic failure, with why for the DEBUG log (the client is told only "invalid
/// credentials").
fn refused(why: &str) -> Failure {
    tracing::debug!(cause = why, "SCRAM exchange refused");
    Failure::generic()
}

/// A saslname with `=2C` and `=3D` decoded; any other `=` makes it invalid (RFC 5802).
fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A fresh nonce: 24 random bytes in base64 without `,` (printable, as RFC 5802 asks).
fn server_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    // The system RNG does not fail on the systems Gregor runs on; a zero nonce would still be
    // unique per connection only by luck, so fall back to the clock mixed in.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&now.to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram_store::Change;

    /// A client side of the exchange, as RFC 5802 computes it.
    fn client_final(
        m: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let attrs: Vec<&str> = server_first.split(',').collect();
        let nonce = attrs[0].strip_prefix("r=").unwrap();
        let salt = B64.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
        let iterations: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = m.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = m.hmac_of(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = m.hmac_of(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn store_with(
        user: &str,
        password: &str,
        m: ScramMechanism,
    ) -> (tempfile::TempDir, Arc<ScramStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = ScramStore::load(dir.path()).unwrap();
        let salted = m.salted_password(password.as_bytes(), b"saltsalt", 4096);
        let c = ScramCredential::from_salted_password(m, b"saltsalt", &salted, 4096);
        store.apply(&[Change::Upsert(user.into(), m, c)]).unwrap();
        (dir, Arc::new(store))
    }

    #[test]
    fn a_full_exchange_authenticates_for_both_mechanisms() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let (_dir, store) = store_with("al,ice", "secret", m);
            let mut server = ScramServer::new(m, store);
            let bare = "n=al=2Cice,r=clientnonce";
            let Step::Continue(first) = server.evaluate(format!("n,,{bare}").as_bytes()).unwrap()
            else {
                panic!("expected a challenge")
            };
            let first = String::from_utf8(first).unwrap();
            assert!(first.starts_with("r=clientnonce"), "{first}");
            let last = client_final(m, "secret", bare, &first);
            match server.evaluate(last.as_bytes()).unwrap() {
                Step::Done { user, response, .. } => {
                    assert_eq!(user, "al,ice");
                    assert!(response.starts_with(b"v="));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn wrong_passwords_unknown_users_and_garbage_fail() {
        let m = ScramMechanism::Sha256;
        let (_dir, store) = store_with("alice", "secret", m);
        let mut server = ScramServer::new(m, store.clone());
        let bare = "n=alice,r=abc";
        let Step::Continue(first) = server.evaluate(format!("n,,{bare}").as_bytes()).unwrap()
        else {
            panic!()
        };
        let last = client_final(m, "wrong", bare, &String::from_utf8(first).unwrap());
        assert!(server.evaluate(last.as_bytes()).unwrap_err().generic);
        let mut server = ScramServer::new(m, store.clone());
        assert!(server.evaluate(b"n,,n=bob,r=abc").unwrap_err().generic);
        for garbage in [&b"y,,n=alice"[..], b"", b"n,,n=alice", b"\xff\xfe"] {
            let mut server = ScramServer::new(m, store.clone());
            assert!(server.evaluate(garbage).is_err());
        }
        // SHA-512 has no credential for alice.
        let mut server = ScramServer::new(ScramMechanism::Sha512, store);
        assert!(server.evaluate(b"n,,n=alice,r=abc").is_err());
    }

    #[test]
    fn librdkafkas_final_nonce_with_its_own_in_front_is_accepted_as_kafka_accepts_it() {
        let m = ScramMechanism::Sha512;
        let (_dir, store) = store_with("alice", "secret", m);
        let mut server = ScramServer::new(m, store);
        let bare = "n=alice,r=cnonce";
        let Step::Continue(first) = server.evaluate(format!("n,,{bare}").as_bytes()).unwrap()
        else {
            panic!()
        };
        let first = String::from_utf8(first).unwrap();
        // librdkafka 2.0 sends r=<client nonce><combined nonce>, and signs what it sent.
        let combined = first.split(',').next().unwrap().strip_prefix("r=").unwrap();
        let without_proof = format!("c=biws,r=cnonce{combined}");
        let attrs: Vec<&str> = first.split(',').collect();
        let salt = B64.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
        let salted = m.salted_password(b"secret", &salt, 4096);
        let client_key = m.hmac_of(&salted, b"Client Key");
        let auth = format!("{bare},{first},{without_proof}");
        let signature = m.hmac_of(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let message = format!("{without_proof},p={}", B64.encode(proof));
        assert!(matches!(
            server.evaluate(message.as_bytes()).unwrap(),
            Step::Done { .. }
        ));
    }

    #[test]
    fn sasl_names_unescape() {
        assert_eq!(unescape_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape_name("a=2"), None);
        assert_eq!(unescape_name("a=41"), None);
    }
}
