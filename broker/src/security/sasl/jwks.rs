//! Signed OAUTHBEARER tokens checked against a JSON Web Key Set read from a file, as Kafka's
//! `OAuthBearerValidatorCallbackHandler` checks them against its `sasl.oauthbearer.jwks.endpoint.url`:
//! a JWS in compact form signed with RS256/RS384/RS512 or ES256/ES384 by a key of the set (by
//! its `kid`, or any key of the right type when the token names none), `exp` not passed, `iat`
//! not in the future, the `sub` claim (or `sasl.oauthbearer.sub.claim.name`) naming the
//! principal, and `aud`/`iss` matched when `sasl.oauthbearer.expected.audience`/`.issuer` are
//! set. The set is read once at start-up: a `file:` URL only, since Gregor fetches nothing over
//! the network. Kafka counterpart: `JwksFileVerificationKeyResolver` and `DefaultJwtValidator`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};

/// What the validator needs, from the listener's `sasl.oauthbearer.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// `sasl.oauthbearer.jwks.endpoint.url`: `file:/path/to/jwks.json`.
    pub url: String,
    /// `sasl.oauthbearer.expected.audience`: one of these must be in `aud`; empty: not checked.
    pub audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`: `iss` must equal it; unset: not checked.
    pub issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name` (default `sub`).
    pub sub_claim: String,
    /// `sasl.oauthbearer.clock.skew.seconds` (default 30).
    pub clock_skew_s: i64,
}

/// A public key of the set.
#[derive(Debug, Clone)]
struct Jwk {
    /// `kid`, if the set gives one.
    kid: Option<String>,
    key: PublicKey,
}

#[derive(Debug, Clone)]
enum PublicKey {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point (`0x04 || x || y`) on P-256 or P-384.
    Ec { p384: bool, point: Vec<u8> },
}

/// The key set and the checks of one listener.
#[derive(Debug, Clone)]
pub struct JwksValidator {
    keys: Vec<Jwk>,
    settings: JwksSettings,
}

impl JwksValidator {
    /// Reads the key set `settings.url` names; an error says what is wrong with it.
    pub fn load(settings: JwksSettings) -> Result<JwksValidator, String> {
        let url = settings.url.clone();
        let path = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
            .ok_or_else(|| {
                format!(
                    "a file: URL (Gregor reads the key set from a file and fetches nothing), not {url}"
                )
            })?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("a readable JWKS file at {path}: {e}"))?;
        JwksValidator::from_json(&text, settings)
            .map_err(|e| format!("a JSON Web Key Set in {path}: {e}"))
    }

    /// The validator of the key set `json`.
    pub fn from_json(json: &str, settings: JwksSettings) -> Result<JwksValidator, String> {
        let set: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let entries = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("no \"keys\" array")?;
        let mut keys = Vec::new();
        for entry in entries {
            // Keys for encryption, or of types Gregor cannot verify with, are skipped as a JOSE
            // library skips them; the set must still hold one usable key.
            if entry.get("use").and_then(|u| u.as_str()) == Some("enc") {
                continue;
            }
            if let Some(key) = parse_key(entry) {
                let kid = entry
                    .get("kid")
                    .and_then(|k| k.as_str())
                    .map(str::to_string);
                keys.push(Jwk { kid, key });
            }
        }
        if keys.is_empty() {
            return Err("no RSA or P-256/P-384 EC signing key".into());
        }
        Ok(JwksValidator { keys, settings })
    }

    /// The principal and expiry (ms) of a signed token, or why it is refused.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<(String, i64), String> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header_b64, claims_b64, signature_b64] = parts[..] else {
            return Err("a JWS has three dot-separated parts".into());
        };
        let header = json_object(header_b64)?;
        let alg = header
            .get("alg")
            .and_then(|a| a.as_str())
            .ok_or("no alg in the header")?;
        let signature = B64URL
            .decode(signature_b64)
            .map_err(|e| format!("the signature is not base64url: {e}"))?;
        let kid = header.get("kid").and_then(|k| k.as_str());
        let signed = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
        let verified = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .any(|k| verify(alg, &k.key, signed, &signature));
        if !verified {
            return Err(match kid {
                Some(kid) if !self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) => {
                    format!("no key with kid {kid} in the key set")
                }
                _ => format!("no key of the set verifies the {alg} signature"),
            });
        }
        let claims = json_object(claims_b64)?;
        let s = &self.settings;
        let principal = principal_claim(&claims, &s.sub_claim)?;
        let seconds = |name: &str| time_claim_ms(&claims, name);
        let skew = s.clock_skew_s.saturating_mul(1000);
        let exp_ms = seconds("exp")?.ok_or("no exp claim")?;
        if now_ms > exp_ms + skew {
            return Err("the token has expired".into());
        }
        if let Some(iat) = seconds("iat")? {
            if iat > now_ms + skew {
                return Err("the token was issued in the future".into());
            }
        }
        if let Some(nbf) = seconds("nbf")? {
            if nbf > now_ms + skew {
                return Err("the token is not valid yet (nbf)".into());
            }
        }
        if !s.audience.is_empty() {
            let aud: Vec<&str> = match claims.get("aud") {
                Some(serde_json::Value::String(a)) => vec![a.as_str()],
                Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
                _ => Vec::new(),
            };
            if !aud.iter().any(|a| s.audience.iter().any(|e| e == a)) {
                return Err("the token's aud is none of sasl.oauthbearer.expected.audience".into());
            }
        }
        if let Some(issuer) = &s.issuer {
            if claims.get("iss").and_then(|i| i.as_str()) != Some(issuer.as_str()) {
                return Err("the token's iss is not sasl.oauthbearer.expected.issuer".into());
            }
        }
        Ok((principal, exp_ms))
    }
}

/// The JSON object a base64url part of a JWS holds (also the unsecured validator's).
pub(super) fn json_object(
    part: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let bytes = B64URL
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("not base64url: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

/// The non-blank string claim `name`: the principal.
pub(super) fn principal_claim(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<String, String> {
    claims
        .get(name)
        .and_then(|p| p.as_str())
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("no {name} claim"))
}

/// A NumericDate claim (seconds since the epoch) in ms, if present.
pub(super) fn time_claim_ms(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|s| Some((s * 1000.0) as i64))
            .ok_or_else(|| format!("the {name} claim is not a number")),
    }
}

/// The key of one JWK entry, if it is one Gregor can verify with.
fn parse_key(entry: &serde_json::Value) -> Option<PublicKey> {
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .and_then(|v| B64URL.decode(v.trim_end_matches('=')).ok())
    };
    match entry.get("kty")?.as_str()? {
        "RSA" => Some(PublicKey::Rsa {
            n: field("n")?,
            e: field("e")?,
        }),
        "EC" => {
            let (p384, width) = match entry.get("crv")?.as_str()? {
                "P-256" => (false, 32),
                "P-384" => (true, 48),
                _ => return None,
            };
            let (x, y) = (field("x")?, field("y")?);
            if x.len() != width || y.len() != width {
                return None;
            }
            let mut point = vec![0x04];
            point.extend(x);
            point.extend(y);
            Some(PublicKey::Ec { p384, point })
        }
        _ => None,
    }
}

/// Whether `signature` over `signed` verifies with `key` under JWS algorithm `alg`.
fn verify(alg: &str, key: &PublicKey, signed: &[u8], signature: &[u8]) -> bool {
    match (alg, key) {
        ("RS256" | "RS384" | "RS512", PublicKey::Rsa { n, e }) => {
            let params = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, signed, signature)
                .is_ok()
        }
        ("ES256", PublicKey::Ec { p384: false, point }) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, signature)
                .is_ok()
        }
        ("ES384", PublicKey::Ec { p384: true, point }) => {
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(signed, signature)
                .is_ok()
        }
        // `none`, HMAC and mismatched key types: never with a key set.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    const NOW: i64 = 1_700_000_000_000;

    fn settings() -> JwksSettings {
        JwksSettings {
            url: String::new(),
            audience: Vec::new(),
            issuer: None,
            sub_claim: "sub".into(),
            clock_skew_s: 30,
        }
    }

    /// A fresh P-256 key: the signer and its JWK set entry.
    fn ec_key(kid: &str) -> (EcdsaKeyPair, serde_json::Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65]),
        });
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, header: &str, claims: &str) -> String {
        let signed = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims));
        let sig = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", B64URL.encode(sig.as_ref()))
    }

    fn validator(keys: &[serde_json::Value], settings: JwksSettings) -> JwksValidator {
        JwksValidator::from_json(&serde_json::json!({ "keys": keys }).to_string(), settings)
            .unwrap()
    }

    #[test]
    fn a_token_signed_by_a_key_of_the_set_names_its_subject() {
        let (pair, jwk) = ec_key("k1");
        let v = validator(&[jwk], settings());
        let token = sign(
            &pair,
            r#"{"alg":"ES256","kid":"k1"}"#,
            r#"{"sub":"alice","iat":1699999990,"exp":1700000100}"#,
        );
        assert_eq!(
            v.validate(&token, NOW),
            Ok(("alice".to_string(), 1_700_000_100_000))
        );
        // Without a kid, any key of the set may verify it.
        let token = sign(
            &pair,
            r#"{"alg":"ES256"}"#,
            r#"{"sub":"bob","exp":1700000100}"#,
        );
        assert_eq!(v.validate(&token, NOW).unwrap().0, "bob");
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_refused() {
        let (pair, jwk) = ec_key("k1");
        let (other, _) = ec_key("k1");
        let v = validator(&[jwk], settings());
        let claims = r#"{"sub":"alice","exp":1700000100}"#;
        let forged = sign(&other, r#"{"alg":"ES256","kid":"k1"}"#, claims);
        assert!(v.validate(&forged, NOW).is_err());
        let unknown_kid = sign(&pair, r#"{"alg":"ES256","kid":"k2"}"#, claims);
        assert!(v
            .validate(&unknown_kid, NOW)
            .unwrap_err()
            .contains("kid k2"));
        let expired = sign(
            &pair,
            r#"{"alg":"ES256"}"#,
            r#"{"sub":"a","exp":1699999000}"#,
        );
        assert!(v.validate(&expired, NOW).unwrap_err().contains("expired"));
        let future = sign(
            &pair,
            r#"{"alg":"ES256"}"#,
            r#"{"sub":"a","exp":1700000900,"iat":1700000500}"#,
        );
        assert!(v.validate(&future, NOW).is_err());
        let unsecured = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims)
        );
        assert!(v.validate(&unsecured, NOW).is_err());
        // A valid signature with the claims changed afterwards.
        let token = sign(&pair, r#"{"alg":"ES256"}"#, claims);
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = B64URL.encode(r#"{"sub":"mallory","exp":1700000100}"#);
        assert!(v.validate(&parts.join("."), NOW).is_err());
        assert!(v.validate("not a token", NOW).is_err());
    }

    #[test]
    fn audience_and_issuer_are_checked_when_set() {
        let (pair, jwk) = ec_key("k1");
        let mut s = settings();
        s.audience = vec!["kafka".into()];
        s.issuer = Some("https://idp.example".into());
        let v = validator(&[jwk], s);
        let good = sign(
            &pair,
            r#"{"alg":"ES256"}"#,
            r#"{"sub":"a","exp":1700000100,"aud":["x","kafka"],"iss":"https://idp.example"}"#,
        );
        assert!(v.validate(&good, NOW).is_ok());
        for claims in [
            r#"{"sub":"a","exp":1700000100,"aud":"x","iss":"https://idp.example"}"#,
            r#"{"sub":"a","exp":1700000100,"aud":"kafka","iss":"https://other"}"#,
            r#"{"sub":"a","exp":1700000100,"iss":"https://idp.example"}"#,
        ] {
            let token = sign(&pair, r#"{"alg":"ES256"}"#, claims);
            assert!(v.validate(&token, NOW).is_err(), "{claims}");
        }
    }

    #[test]
    fn a_set_without_a_usable_key_or_outside_a_file_url_is_refused() {
        let enc_only = r#"{"keys":[{"kty":"EC","crv":"P-256","use":"enc","x":"AA","y":"AA"}]}"#;
        assert!(JwksValidator::from_json(enc_only, settings()).is_err());
        assert!(JwksValidator::from_json("{}", settings()).is_err());
        let mut s = settings();
        s.url = "https://idp.example/jwks".into();
        assert!(JwksValidator::load(s).unwrap_err().contains("file: URL"));
    }
}
