//! SASL authentication of a connection on a SASL_PLAINTEXT or SASL_SSL listener, before any
//! other request is served: ApiVersions and SaslHandshake (v0 raw tokens, v1 SaslAuthenticate
//! framing of KIP-152), the mechanism's exchange, the session lifetime and re-authentication
//! of KIP-368. A pure state machine over whole frames: the connection reads them and writes
//! what it answers. Kafka counterpart: `SaslServerAuthenticator`.
//!
//! States, as Kafka's `SaslState`:
//! - `HandshakeOrVersions`: the start. ApiVersions leads to `Handshake`, SaslHandshake to
//!   `Authenticate`; any other request closes the connection.
//! - `Handshake`: after ApiVersions; only SaslHandshake is served.
//! - `Authenticate`: the mechanism's exchange, in SaslAuthenticate requests (handshake v1) or
//!   raw size-prefixed tokens (v0). Success completes; failure answers
//!   SASL_AUTHENTICATION_FAILED with Kafka's message and closes.
//! - Re-authentication starts from a SaslHandshake on an authenticated connection and must
//!   keep the mechanism and the principal.

pub mod jaas;
pub mod jwks;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::api_versions::ApiTable;
use gregor_protocol::messages::{
    ApiKey, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use gregor_protocol::request::{decode_request, Decoded};
use gregor_protocol::response::encode_response;
use gregor_protocol::{ResponseError, StrBytes};

use super::principal::KafkaPrincipal;
use super::scram_store::{ScramMechanism, ScramStore};
use crate::config::SaslSettings;
use oauthbearer::{OAuthBearerServer, OAuthValidator, UnsecuredValidator};
use plain::PlainServer;
use scram::ScramServer;

/// What a mechanism's step gave.
#[derive(Debug)]
pub enum Step {
    /// A challenge for the client; the exchange goes on.
    Continue(Vec<u8>),
    /// The exchange is complete: the last response, the user, and when the credential
    /// expires (ms since the epoch), if it does.
    Done {
        response: Vec<u8>,
        user: String,
        expires_ms: Option<i64>,
    },
}

/// A failed exchange.
#[derive(Debug)]
pub struct Failure {
    /// What the client is told (Kafka's message), unless `generic`.
    pub message: String,
    /// Tell the client only that its credentials were invalid (Kafka does so for SCRAM, so as
    /// not to say whether the user exists).
    pub generic: bool,
}

impl Failure {
    /// A failure with Kafka's message for it.
    pub fn message(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            generic: false,
        }
    }

    /// "invalid credentials", worded by the authenticator.
    pub fn generic() -> Failure {
        Failure {
            message: String::new(),
            generic: true,
        }
    }
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A listener's SASL set-up, built once at start-up.
#[derive(Debug)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
    /// PLAIN's users (`user_<name>` JAAS options).
    pub plain_users: Arc<BTreeMap<String, String>>,
    /// How OAUTHBEARER tokens are checked.
    pub oauth: OAuthValidator,
    /// `connections.max.reauth.ms`; 0 means sessions do not expire.
    pub max_reauth_ms: i64,
    /// `sasl.server.max.receive.size`.
    pub max_receive_size: usize,
    /// SCRAM credentials, shared with AlterUserScramCredentials.
    pub scram: Arc<ScramStore>,
}

impl SaslConfig {
    /// The set-up of a listener's `settings`; an error names the key and what is wrong.
    pub fn new(
        listener: &str,
        settings: &SaslSettings,
        scram: Arc<ScramStore>,
    ) -> Result<SaslConfig, String> {
        let mut plain_users = BTreeMap::new();
        let mut oauth = UnsecuredValidator::default();
        for (mechanism, text) in &settings.jaas {
            let modules = jaas::parse(text.expose())
                .map_err(|e| format!("the {mechanism} sasl.jaas.config: expected {e}"))?;
            match mechanism.as_str() {
                "PLAIN" => plain_users.extend(jaas::plain_users(&modules)),
                "OAUTHBEARER" => {
                    for m in &modules {
                        oauth = UnsecuredValidator::from_options(&m.options).map_err(|e| {
                            format!("the OAUTHBEARER sasl.jaas.config: expected {e}")
                        })?;
                    }
                }
                _ => {}
            }
        }
        if let Some(path) = &settings.plain_users_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("gregor.sasl.plain.users.file: expected a readable file at {path}: {e}")
            })?;
            // The JAAS config's users win over the file's.
            for (user, password) in plain::parse_users_file(&text)
                .map_err(|e| format!("gregor.sasl.plain.users.file: expected in {path}, {e}"))?
            {
                plain_users.entry(user).or_insert(password);
            }
        }
        if settings.enabled_mechanisms.iter().any(|m| m == "PLAIN") && plain_users.is_empty() {
            tracing::warn!(listener, "SASL/PLAIN is enabled but has no users: add user_<name>=\"<password>\" options to listener.name.{}.plain.sasl.jaas.config, or leave PLAIN out of sasl.enabled.mechanisms", listener.to_ascii_lowercase());
        }
        let oauth = match &settings.oauth_jwks {
            None => OAuthValidator::Unsecured(oauth),
            Some(jwks) => OAuthValidator::Jwks(Arc::new(
                jwks::JwksValidator::load(jwks.clone())
                    .map_err(|e| format!("sasl.oauthbearer.jwks.endpoint.url: expected {e}"))?,
            )),
        };
        Ok(SaslConfig {
            mechanisms: settings.enabled_mechanisms.clone(),
            plain_users: Arc::new(plain_users),
            oauth,
            max_reauth_ms: settings.max_reauth_ms,
            max_receive_size: settings.max_receive_size,
            scram,
        })
    }

    fn server(&self, mechanism: &str) -> Option<MechanismServer> {
        Some(match mechanism {
            "PLAIN" => MechanismServer::Plain(PlainServer::new(self.plain_users.clone())),
            "OAUTHBEARER" => MechanismServer::OAuthBearer(OAuthBearerServer::new(
                self.oauth.clone(),
                crate::broker::now_ms,
            )),
            m => MechanismServer::Scram(ScramServer::new(
                ScramMechanism::from_name(m)?,
                self.scram.clone(),
            )),
        })
    }
}

/// The exchange of one mechanism.
#[derive(Debug)]
enum MechanismServer {
    Plain(PlainServer),
    Scram(ScramServer),
    OAuthBearer(OAuthBearerServer),
}

impl MechanismServer {
    fn evaluate(&mut self, token: &[u8]) -> Result<Step, Failure> {
        match self {
            MechanismServer::Plain(s) => s.evaluate(token),
            MechanismServer::Scram(s) => s.evaluate(token),
            MechanismServer::OAuthBearer(s) => s.evaluate(token),
        }
    }
}

#[derive(Debug)]
enum State {
    HandshakeOrVersions,
    Handshake,
    Authenticate {
        mechanism: String,
        server: MechanismServer,
        /// Handshake v0: tokens come and go as raw size-prefixed frames.
        raw: bool,
    },
    /// Re-authentication asked for another mechanism: the next SaslAuthenticate fails.
    BadMechanism(String),
    Complete,
}

/// The session before re-authentication, which it must keep.
#[derive(Debug, Clone)]
struct Previous {
    mechanism: String,
    principal: KafkaPrincipal,
}

/// What the connection does with a frame's outcome.
#[derive(Debug)]
pub enum Outcome {
    /// Write `reply` (a whole frame, or nothing); still authenticating.
    Reply(BytesMut),
    /// Write `reply`; the connection is authenticated as `principal` until `expires` (if set).
    Authenticated {
        reply: BytesMut,
        principal: KafkaPrincipal,
        expires: Option<Instant>,
    },
    /// Write `reply` (maybe empty), then close: `reason` is for the DEBUG log.
    Fail { reply: BytesMut, reason: String },
}

/// One connection's authentication.
#[derive(Debug)]
pub struct Authenticator {
    config: Arc<SaslConfig>,
    state: State,
    /// Set while re-authenticating.
    previous: Option<Previous>,
    /// The mechanism of the completed exchange.
    mechanism: Option<String>,
    /// Whether the client sent SaslAuthenticate v1+, so it re-authenticates (KIP-368).
    supports_reauth: bool,
}

fn fail(reply: BytesMut, reason: impl Into<String>) -> Outcome {
    Outcome::Fail {
        reply,
        reason: reason.into(),
    }
}

impl Authenticator {
    /// A connection's authenticator, at the start.
    pub fn new(config: Arc<SaslConfig>) -> Authenticator {
        Authenticator {
            config,
            state: State::HandshakeOrVersions,
            previous: None,
            mechanism: None,
            supports_reauth: false,
        }
    }

    /// The largest frame read before authentication.
    pub fn max_receive_size(&self) -> usize {
        self.config.max_receive_size
    }

    /// Whether the client can re-authenticate (it used SaslAuthenticate v1+): then a
    /// SaslHandshake on the authenticated connection starts re-authentication.
    pub fn supports_reauth(&self) -> bool {
        self.supports_reauth && matches!(self.state, State::Complete)
    }

    /// Starts re-authentication of the session of `principal`; the SaslHandshake that asked
    /// for it goes to `on_frame` next.
    pub fn begin_reauth(&mut self, principal: KafkaPrincipal) {
        self.previous = Some(Previous {
            mechanism: self.mechanism.clone().unwrap_or_default(),
            principal,
        });
        self.state = State::Handshake;
    }

    fn text(&self) -> &'static str {
        if self.previous.is_some() {
            "re-authentication"
        } else {
            "authentication"
        }
    }

    /// Handles one frame from the client.
    pub fn on_frame(&mut self, frame: Bytes, apis: &ApiTable) -> Outcome {
        if let State::Authenticate { raw: true, .. } = &self.state {
            return self.raw_token(&frame);
        }
        if frame.len() < 8 {
            return fail(BytesMut::new(), "a frame too short for a request header");
        }
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let api = ApiKey::try_from(key).ok();
        let allowed = match &self.state {
            State::HandshakeOrVersions => {
                matches!(api, Some(ApiKey::ApiVersions | ApiKey::SaslHandshake))
            }
            State::Handshake => api == Some(ApiKey::SaslHandshake),
            State::Authenticate { .. } | State::BadMechanism(_) => {
                api == Some(ApiKey::SaslAuthenticate)
            }
            State::Complete => false,
        };
        if !allowed {
            // Kafka throws IllegalSaslStateException and closes, before parsing the request.
            return fail(
                BytesMut::new(),
                format!(
                    "unexpected Kafka request of type {} during SASL {}",
                    api.map_or_else(|| key.to_string(), |a| format!("{a:?}")),
                    match self.state {
                        State::Authenticate { .. } | State::BadMechanism(_) => "authentication",
                        _ => "handshake",
                    }
                ),
            );
        }
        let request = match decode_request(frame, apis) {
            Ok(Decoded::Request(r)) => r,
            Ok(Decoded::ApiVersionsTooNew { correlation_id }) => {
                let mut out = BytesMut::new();
                let body = apis.api_versions_response(ResponseError::UnsupportedVersion.code());
                return match encode_response(
                    &mut out,
                    ApiKey::ApiVersions,
                    0,
                    correlation_id,
                    &ResponseKind::ApiVersions(body),
                ) {
                    Ok(()) => Outcome::Reply(out),
                    Err(e) => fail(BytesMut::new(), e.to_string()),
                };
            }
            Err(e) => return fail(BytesMut::new(), e.to_string()),
        };
        let correlation_id = request.header.correlation_id;
        let respond = |body: ResponseKind| -> Result<BytesMut, String> {
            let mut out = BytesMut::new();
            encode_response(
                &mut out,
                request.api_key,
                request.version,
                correlation_id,
                &body,
            )
            .map_err(|e| e.to_string())?;
            Ok(out)
        };
        use gregor_protocol::messages::RequestKind;
        match &request.body {
            RequestKind::ApiVersions(_) => {
                self.state = State::Handshake;
                match respond(ResponseKind::ApiVersions(apis.api_versions_response(0))) {
                    Ok(out) => Outcome::Reply(out),
                    Err(e) => fail(BytesMut::new(), e),
                }
            }
            RequestKind::SaslHandshake(r) => {
                let mechanism = r.mechanism.to_string();
                let enabled: Vec<StrBytes> = self
                    .config
                    .mechanisms
                    .iter()
                    .map(|m| StrBytes::from_string(m.clone()))
                    .collect();
                let server = self
                    .config
                    .mechanisms
                    .contains(&mechanism)
                    .then(|| self.config.server(&mechanism))
                    .flatten();
                let Some(server) = server else {
                    let body = SaslHandshakeResponse::default()
                        .with_error_code(ResponseError::UnsupportedSaslMechanism.code())
                        .with_mechanisms(enabled);
                    let reply = respond(ResponseKind::SaslHandshake(body)).unwrap_or_default();
                    return fail(reply, format!("unsupported SASL mechanism {mechanism}"));
                };
                let body = SaslHandshakeResponse::default().with_mechanisms(enabled);
                let reply = match respond(ResponseKind::SaslHandshake(body)) {
                    Ok(out) => out,
                    Err(e) => return fail(BytesMut::new(), e),
                };
                self.state = match &self.previous {
                    Some(p) if p.mechanism != mechanism => State::BadMechanism(format!(
                        "SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{}'",
                        p.mechanism
                    )),
                    _ => State::Authenticate {
                        mechanism,
                        server,
                        raw: request.version == 0,
                    },
                };
                Outcome::Reply(reply)
            }
            RequestKind::SaslAuthenticate(r) => {
                if request.version > 0 {
                    self.supports_reauth = true;
                }
                let failed = |message: String, reason: String| {
                    let body = SaslAuthenticateResponse::default()
                        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                        .with_error_message(Some(StrBytes::from_string(message)));
                    fail(
                        respond(ResponseKind::SaslAuthenticate(body)).unwrap_or_default(),
                        reason,
                    )
                };
                let text = self.text();
                let (mechanism, server) = match &mut self.state {
                    State::Authenticate {
                        mechanism, server, ..
                    } => (mechanism.clone(), server),
                    State::BadMechanism(message) => {
                        let message = message.clone();
                        return failed(message.clone(), message);
                    }
                    _ => return fail(BytesMut::new(), "SaslAuthenticate out of turn"),
                };
                match server.evaluate(&r.auth_bytes) {
                    Ok(Step::Continue(challenge)) => {
                        let body = SaslAuthenticateResponse::default()
                            .with_auth_bytes(Bytes::from(challenge));
                        match respond(ResponseKind::SaslAuthenticate(body)) {
                            Ok(out) => Outcome::Reply(out),
                            Err(e) => fail(BytesMut::new(), e),
                        }
                    }
                    Ok(Step::Done {
                        response,
                        user,
                        expires_ms,
                    }) => match self.complete(&mechanism, user, expires_ms) {
                        Ok((principal, lifetime_ms, expires)) => {
                            let body = SaslAuthenticateResponse::default()
                                .with_auth_bytes(Bytes::from(response))
                                .with_session_lifetime_ms(lifetime_ms);
                            match respond(ResponseKind::SaslAuthenticate(body)) {
                                Ok(reply) => Outcome::Authenticated {
                                    reply,
                                    principal,
                                    expires,
                                },
                                Err(e) => fail(BytesMut::new(), e),
                            }
                        }
                        Err(message) => failed(message.clone(), message),
                    },
                    Err(failure) => {
                        let message = if failure.generic {
                            format!("Authentication failed during {text} due to invalid credentials with SASL mechanism {mechanism}")
                        } else {
                            failure.message
                        };
                        failed(message.clone(), message)
                    }
                }
            }
            _ => fail(BytesMut::new(), "unexpected request during SASL"),
        }
    }

    /// A raw token after a v0 handshake: answered with a raw size-prefixed token, failures
    /// by closing (there is no Kafka response to carry them).
    fn raw_token(&mut self, token: &[u8]) -> Outcome {
        let State::Authenticate {
            mechanism, server, ..
        } = &mut self.state
        else {
            return fail(BytesMut::new(), "raw token out of turn");
        };
        let mechanism = mechanism.clone();
        let framed = |bytes: &[u8]| {
            let mut out = BytesMut::with_capacity(4 + bytes.len());
            out.put_i32(bytes.len() as i32);
            out.extend_from_slice(bytes);
            out
        };
        match server.evaluate(token) {
            Ok(Step::Continue(challenge)) => Outcome::Reply(framed(&challenge)),
            Ok(Step::Done {
                response,
                user,
                expires_ms,
            }) => match self.complete(&mechanism, user, expires_ms) {
                Ok((principal, _, expires)) => Outcome::Authenticated {
                    reply: framed(&response),
                    principal,
                    expires,
                },
                Err(message) => fail(BytesMut::new(), message),
            },
            Err(failure) => fail(
                BytesMut::new(),
                if failure.generic {
                    format!("invalid credentials with SASL mechanism {mechanism}")
                } else {
                    failure.message
                },
            ),
        }
    }

    /// Completes the exchange: the principal, the session lifetime to tell the client (ms,
    /// 0 for none) and when the session expires, as Kafka's
    /// `calcCompletionTimesAndReturnSessionLifetimeMs` computes them.
    fn complete(
        &mut self,
        mechanism: &str,
        user: String,
        expires_ms: Option<i64>,
    ) -> Result<(KafkaPrincipal, i64, Option<Instant>), String> {
        let principal = KafkaPrincipal::user(user);
        if let Some(previous) = &self.previous {
            if previous.principal != principal {
                return Err(format!(
                    "Cannot change principals during re-authentication from {}.{}: {}.{}",
                    previous.principal.principal_type,
                    previous.principal.name,
                    principal.principal_type,
                    principal.name
                ));
            }
        }
        let max = self.config.max_reauth_ms;
        let now = crate::broker::now_ms();
        let lifetime = match (expires_ms, max > 0) {
            (None, false) => None,
            (None, true) => Some(max),
            (Some(exp), false) => Some((exp - now).max(0)),
            (Some(exp), true) => Some((exp - now).min(max).max(0)),
        };
        self.state = State::Complete;
        self.previous = None;
        self.mechanism = Some(mechanism.to_string());
        let expires = lifetime.map(|ms| Instant::now() + Duration::from_millis(ms as u64));
        Ok((principal, lifetime.unwrap_or(0), expires))
    }
}

#[cfg(test)]
mod tests;
