//! OAUTHBEARER with signed tokens: the broker reads a JSON Web Key Set from a file
//! (`sasl.oauthbearer.jwks.endpoint.url=file:...`, with an expected audience), and an rdkafka
//! client hands librdkafka ES256 tokens from its token-refresh callback, as an application with
//! its own identity provider does. A token signed by a key outside the set, or for another
//! audience, never gets the client in.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use gregor_itests::security::listener_port;
use gregor_itests::TestBroker;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// A client's signing key and the claims its tokens carry.
struct Issuer {
    key: EcdsaKeyPair,
    audience: &'static str,
    /// Set when the broker acknowledged a record of the producer using this context.
    acked: std::sync::atomic::AtomicBool,
}

impl Issuer {
    /// A new PKCS#8 P-256 key.
    fn new_key() -> Vec<u8> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn new(pkcs8: &[u8], audience: &'static str) -> Issuer {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .unwrap();
        Issuer {
            key,
            audience,
            acked: Default::default(),
        }
    }

    /// The key set with this issuer's public key.
    fn jwks(&self) -> String {
        let point = self.key.public_key().as_ref();
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "test-key", "use": "sig", "alg": "ES256",
            "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65]),
        }]})
        .to_string()
    }

    fn token(&self, subject: &str) -> (String, i64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let exp = now + 3600;
        let claims = serde_json::json!({
            "sub": subject, "aud": self.audience, "iat": now, "exp": exp,
        });
        let signed = format!(
            "{}.{}",
            B64URL.encode(r#"{"alg":"ES256","typ":"JWT","kid":"test-key"}"#),
            B64URL.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        (
            format!("{signed}.{}", B64URL.encode(signature.as_ref())),
            exp * 1000,
        )
    }
}

impl ClientContext for Issuer {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let (token, lifetime_ms) = self.token("alice");
        Ok(OAuthToken {
            token,
            principal_name: "alice".into(),
            lifetime_ms,
        })
    }
}

impl ProducerContext for Issuer {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.acked.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Whether a producer whose tokens `issuer` signs gets a record acknowledged within `limit`.
fn produces(addr: &str, issuer: Issuer, limit: Duration) -> anyhow::Result<bool> {
    let producer: BaseProducer<Issuer> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanisms", "OAUTHBEARER")
        .set("message.timeout.ms", limit.as_millis().to_string())
        .create_with_context(issuer)?;
    producer
        .send(BaseRecord::<(), str>::to("signed").payload("hello"))
        .map_err(|(e, _)| e)?;
    let deadline = Instant::now() + limit + Duration::from_secs(5);
    // flush polls, which runs the token-refresh callback.
    while Instant::now() < deadline {
        if producer.flush(Duration::from_millis(200)).is_ok() {
            break;
        }
    }
    Ok(producer
        .context()
        .acked
        .load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn signed_tokens_from_the_key_set_get_in_and_others_do_not() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = Issuer::new_key();
    let issuer = Issuer::new(&key, "kafka");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks())?;
    let url = format!("sasl.oauthbearer.jwks.endpoint.url=file:{}", jwks.display());
    let broker = TestBroker::start(&[
        "--set",
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "--set",
        "sasl.enabled.mechanisms=OAUTHBEARER",
        "--set",
        &url,
        "--set",
        "sasl.oauthbearer.expected.audience=kafka",
    ])?;
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);

    assert!(
        produces(&sasl, issuer, Duration::from_secs(30))?,
        "a token signed by the set's key is accepted"
    );
    assert!(
        !produces(
            &sasl,
            Issuer::new(&Issuer::new_key(), "kafka"),
            Duration::from_secs(3)
        )?,
        "a key outside the set is refused"
    );
    assert!(
        !produces(&sasl, Issuer::new(&key, "billing"), Duration::from_secs(3))?,
        "a token for another audience is refused"
    );
    Ok(())
}
