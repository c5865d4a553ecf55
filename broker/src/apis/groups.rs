//! The group APIs: FindCoordinator is answered here (this broker coordinates every group); the
//! rest go to the coordinator task.

use std::net::SocketAddr;
use std::sync::Arc;

use gregor_protocol::messages::find_coordinator_response::Coordinator;
use gregor_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestKind, ResponseKind,
};
use gregor_protocol::request::Request;
use gregor_protocol::{ResponseError, StrBytes};

use crate::broker::Broker;
use crate::coordinator::runtime::GroupRequest;

/// FindCoordinator: ourselves for groups; transactions are not supported.
pub fn find_coordinator(
    broker: &Arc<Broker>,
    request: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let (host, port) = &broker.advertised;
    let node = BrokerId(broker.config.node_id);
    let answer = |key_type: i8| -> (ResponseError, &'static str) {
        match key_type {
            0 => (ResponseError::Unknown(0), ""),
            // What Kafka answers when the client may not use the transactional id: not
            // retriable, so a transactional producer fails at once with a clear error instead
            // of retrying until its timeout (COORDINATOR_NOT_AVAILABLE would be retried).
            1 => (
                ResponseError::TransactionalIdAuthorizationFailed,
                "Gregor does not support transactions",
            ),
            _ => (
                ResponseError::InvalidRequest,
                "Gregor has group coordinators only",
            ),
        }
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let (error, message) = answer(request.key_type);
                let base = Coordinator::default().with_key(key.clone());
                match error {
                    ResponseError::Unknown(0) => base
                        .with_node_id(node)
                        .with_host(StrBytes::from_string(host.clone()))
                        .with_port(*port),
                    e => base
                        .with_node_id(BrokerId(-1))
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match answer(request.key_type) {
        (ResponseError::Unknown(0), _) => FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port),
        (e, message) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_static_str(message)))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::from_static_str(""))
            .with_port(-1),
    }
}

/// Hands a group request to the coordinator.
pub async fn handle(
    broker: &Arc<Broker>,
    request: &Request,
    peer: SocketAddr,
) -> Option<ResponseKind> {
    let coordinator = broker.coordinator.get()?;
    let body: RequestKind = request.body.clone();
    let call = GroupRequest {
        body,
        version: request.version,
        client_id: request
            .header
            .client_id
            .as_deref()
            .unwrap_or("")
            .to_string(),
        client_host: format!("/{}", peer.ip()),
    };
    coordinator.call(call).await
}
