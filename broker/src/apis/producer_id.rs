//! InitProducerId: ids for idempotent producers (the Java producer's default) here, and for
//! transactional ones from the transaction coordinator (`transactions`).

use std::sync::Arc;

use gregor_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

/// Handles InitProducerId.
pub async fn handle(
    broker: &Arc<Broker>,
    request: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    if let Some(id) = &request.transactional_id {
        return super::transactions::init_producer_id(broker, request, id.as_str()).await;
    }
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(broker.allocate_producer_id()))
        .with_producer_epoch(0)
}
