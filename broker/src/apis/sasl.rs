//! SaslHandshake and SaslAuthenticate outside a SASL exchange: on a listener without SASL, or
//! on a connection already authenticated whose client cannot re-authenticate. Kafka answers
//! ILLEGAL_SASL_STATE there (`KafkaApis.handleSaslHandshakeRequest`); the exchange itself is
//! `security::sasl`, run by the connection before any request reaches the handlers.

use gregor_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use gregor_protocol::{ResponseError, StrBytes};

/// SaslHandshake out of turn.
pub fn handshake() -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

/// SaslAuthenticate out of turn, with Kafka's message.
pub fn authenticate() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}
