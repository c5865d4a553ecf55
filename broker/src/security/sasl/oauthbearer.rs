//! SASL/OAUTHBEARER (RFC 7628) with unsecured JWS tokens (`alg: none`), for development, as
//! Kafka's default broker-side validator checks them: the `sub` claim (or the JAAS option
//! `unsecuredValidatorPrincipalClaimName`) names the principal, `exp` must not have passed,
//! `iat` must not be in the future, an optional required scope must be granted. A bad token
//! gets the JSON error challenge, and fails once the client acknowledges it. With
//! `sasl.oauthbearer.jwks.endpoint.url` set, signed tokens are checked against that key set
//! instead (`jwks.rs`). Kafka counterpart: `OAuthBearerSaslServer`,
//! `OAuthBearerUnsecuredValidatorCallbackHandler` and `OAuthBearerValidatorCallbackHandler`.

use std::collections::BTreeMap;

use super::jwks::JwksValidator;
use super::{Failure, Step};

/// How a listener checks tokens.
#[derive(Debug, Clone)]
pub enum OAuthValidator {
    /// Unsecured JWS (`alg: none`), Kafka's default, for development.
    Unsecured(UnsecuredValidator),
    /// Signed JWS checked against a key set (shared by the listener's connections).
    Jwks(std::sync::Arc<JwksValidator>),
}

impl From<UnsecuredValidator> for OAuthValidator {
    fn from(v: UnsecuredValidator) -> Self {
        OAuthValidator::Unsecured(v)
    }
}

/// The validator's options, from the listener's OAUTHBEARER JAAS config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredValidator {
    /// `unsecuredValidatorPrincipalClaimName` (default `sub`).
    pub principal_claim: String,
    /// `unsecuredValidatorScopeClaimName` (default `scope`).
    pub scope_claim: String,
    /// `unsecuredValidatorRequiredScope`: scopes the token must grant.
    pub required_scope: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs` (default 0).
    pub clock_skew_ms: i64,
}

impl Default for UnsecuredValidator {
    fn default() -> Self {
        UnsecuredValidator {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
        }
    }
}

impl UnsecuredValidator {
    /// The validator configured by JAAS `options`.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut v = UnsecuredValidator::default();
        if let Some(c) = options.get("unsecuredValidatorPrincipalClaimName") {
            v.principal_claim = c.trim().to_string();
        }
        if let Some(c) = options.get("unsecuredValidatorScopeClaimName") {
            v.scope_claim = c.trim().to_string();
        }
        if let Some(s) = options.get("unsecuredValidatorRequiredScope") {
            v.required_scope = s.split_whitespace().map(str::to_string).collect();
        }
        if let Some(s) = options.get("unsecuredValidatorAllowableClockSkewMs") {
            v.clock_skew_ms = s.trim().parse().map_err(|_| {
                "a whole number of milliseconds for unsecuredValidatorAllowableClockSkewMs"
                    .to_string()
            })?;
        }
        Ok(v)
    }
}

/// One OAUTHBEARER exchange.
#[derive(Debug)]
pub struct OAuthBearerServer {
    validator: OAuthValidator,
    /// The JSON error sent as a challenge, awaiting the client's `%x01`.
    error: Option<String>,
    /// The clock, in ms since the epoch (injected for tests).
    now_ms: fn() -> i64,
}

impl OAuthBearerServer {
    /// A server validating with `validator`.
    pub fn new(validator: impl Into<OAuthValidator>, now_ms: fn() -> i64) -> OAuthBearerServer {
        OAuthBearerServer {
            validator: validator.into(),
            error: None,
            now_ms,
        }
    }

    /// Takes the client's initial response (or its `%x01` after an error challenge).
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, Failure> {
        if token == [0x01] {
            if let Some(error) = self.error.take() {
                return Err(Failure::message(error));
            }
        }
        self.error = None;
        let (authzid, bearer) = parse_initial_response(token).map_err(Failure::message)?;
        match self.validate(&bearer) {
            Ok((principal, exp_ms)) => {
                if !authzid.is_empty() && authzid != principal {
                    return Err(Failure::message(format!("Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({principal})")));
                }
                Ok(Step::Done {
                    response: Vec::new(),
                    user: principal,
                    expires_ms: Some(exp_ms),
                })
            }
            Err(why) => {
                tracing::debug!(cause = %why, "OAUTHBEARER token refused");
                let error = r#"{"status":"invalid_token"}"#.to_string();
                self.error = Some(error.clone());
                Ok(Step::Continue(error.into_bytes()))
            }
        }
    }

    /// The principal and expiry (ms) of a token, or why it is refused.
    fn validate(&self, token: &str) -> Result<(String, i64), String> {
        match &self.validator {
            OAuthValidator::Unsecured(v) => validate_unsecured(v, token, (self.now_ms)()),
            OAuthValidator::Jwks(v) => v.validate(token, (self.now_ms)()),
        }
    }
}

/// The principal and expiry (ms) of an unsecured JWS, or why it is refused.
fn validate_unsecured(
    validator: &UnsecuredValidator,
    token: &str,
    now: i64,
) -> Result<(String, i64), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("an unsecured JWS has three dot-separated parts".into());
    }
    if !parts[2].is_empty() {
        return Err("an unsecured JWS has an empty signature".into());
    }
    let json = super::jwks::json_object;
    let header = json(parts[0])?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err("the header's alg must be none".into());
    }
    let claims = json(parts[1])?;
    let principal = super::jwks::principal_claim(&claims, &validator.principal_claim)?;
    let seconds = |name: &str| super::jwks::time_claim_ms(&claims, name);
    let exp_ms = seconds("exp")?.ok_or("no exp claim")?;
    let skew = validator.clock_skew_ms;
    if let Some(iat) = seconds("iat")? {
        if iat > now + skew {
            return Err("the token was issued in the future".into());
        }
        if iat > exp_ms {
            return Err("the token expires before it was issued".into());
        }
    }
    if now > exp_ms + skew {
        return Err("the token has expired".into());
    }
    if !validator.required_scope.is_empty() {
        let granted: Vec<String> = match claims.get(&validator.scope_claim) {
            Some(serde_json::Value::String(s)) => {
                s.split_whitespace().map(str::to_string).collect()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = validator
            .required_scope
            .iter()
            .find(|s| !granted.contains(s))
        {
            return Err(format!("the token lacks the required scope {missing}"));
        }
    }
    Ok((principal, exp_ms))
}

/// `gs2-header %x01 auth=Bearer <token> %x01 [key=value %x01]... %x01`: the authzid and token.
fn parse_initial_response(token: &[u8]) -> Result<(String, String), String> {
    let invalid = || "Invalid OAUTHBEARER client first message".to_string();
    let text = std::str::from_utf8(token).map_err(|_| invalid())?;
    let (gs2, rest) = text.split_once('\u{1}').ok_or_else(invalid)?;
    let mut gs2_parts = gs2.split(',');
    if gs2_parts.next() != Some("n") {
        return Err(invalid());
    }
    let authzid = match gs2_parts.next() {
        Some("") | None => String::new(),
        Some(a) => a.strip_prefix("a=").ok_or_else(invalid)?.to_string(),
    };
    let mut bearer = None;
    for pair in rest.split('\u{1}').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
        if key == "auth" {
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(invalid)?;
            bearer = Some(token.trim().to_string());
        }
    }
    Ok((authzid, bearer.ok_or_else(invalid)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;

    fn jws(claims: &str) -> String {
        format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims)
        )
    }

    fn now() -> i64 {
        1_700_000_000_000
    }

    fn evaluate(token: &str) -> Result<Step, Failure> {
        let message = format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}");
        OAuthBearerServer::new(UnsecuredValidator::default(), now).evaluate(message.as_bytes())
    }

    #[test]
    fn a_valid_token_names_its_subject_and_expiry() {
        match evaluate(&jws(r#"{"sub":"alice","iat":1699999990,"exp":1700000100}"#)).unwrap() {
            Step::Done {
                user, expires_ms, ..
            } => {
                assert_eq!(user, "alice");
                assert_eq!(expires_ms, Some(1_700_000_100_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_tokens_get_the_error_challenge_then_fail() {
        for claims in [
            r#"{"sub":"alice","exp":1699999999}"#,
            r#"{"exp":1700000100}"#,
            r#"{"sub":"alice"}"#,
            r#"{"sub":"alice","exp":1700000100,"iat":1700000050}"#,
        ] {
            let mut server = OAuthBearerServer::new(UnsecuredValidator::default(), now);
            let message = format!("n,,\u{1}auth=Bearer {}\u{1}\u{1}", jws(claims));
            match server.evaluate(message.as_bytes()).unwrap() {
                Step::Continue(challenge) => {
                    assert_eq!(challenge, br#"{"status":"invalid_token"}"#, "{claims}")
                }
                other => panic!("{claims}: {other:?}"),
            }
            let failure = server.evaluate(&[1]).unwrap_err();
            assert_eq!(failure.message, r#"{"status":"invalid_token"}"#);
        }
        // A signed token is not unsecured.
        let signed = format!(
            "{}.{}.c2ln",
            B64URL.encode(r#"{"alg":"RS256"}"#),
            B64URL.encode("{}")
        );
        assert!(matches!(evaluate(&signed).unwrap(), Step::Continue(_)));
        assert!(OAuthBearerServer::new(UnsecuredValidator::default(), now)
            .evaluate(b"garbage")
            .is_err());
    }

    #[test]
    fn required_scopes_and_authzids_are_checked() {
        let mut options = BTreeMap::new();
        options.insert("unsecuredValidatorRequiredScope".into(), "kafka".into());
        let v = UnsecuredValidator::from_options(&options).unwrap();
        let token = jws(r#"{"sub":"alice","exp":1700000100,"scope":"kafka other"}"#);
        let mut server = OAuthBearerServer::new(v.clone(), now);
        let message = format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}");
        assert!(matches!(
            server.evaluate(message.as_bytes()).unwrap(),
            Step::Done { .. }
        ));
        let token = jws(r#"{"sub":"alice","exp":1700000100}"#);
        let message = format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}");
        let mut server = OAuthBearerServer::new(v, now);
        assert!(matches!(
            server.evaluate(message.as_bytes()).unwrap(),
            Step::Continue(_)
        ));
        let token = jws(r#"{"sub":"alice","exp":1700000100}"#);
        let message = format!("n,a=bob,\u{1}auth=Bearer {token}\u{1}\u{1}");
        let err = OAuthBearerServer::new(UnsecuredValidator::default(), now)
            .evaluate(message.as_bytes())
            .unwrap_err();
        assert!(
            err.message.contains("authorization id (bob)"),
            "{}",
            err.message
        );
    }
}
