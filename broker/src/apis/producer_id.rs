//! InitProducerId: ids for idempotent producers (the Java producer's default). Transactions are
//! not supported: a transactional id is refused so the client fails clearly.

use std::sync::Arc;

use gregor_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use gregor_protocol::ResponseError;

use crate::broker::Broker;

/// Handles InitProducerId.
pub fn handle(broker: &Arc<Broker>, request: &InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(broker.allocate_producer_id()))
        .with_producer_epoch(0)
}
