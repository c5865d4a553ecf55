//! DescribeCluster: the single broker, which is also the controller.

use std::sync::Arc;

use gregor_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use gregor_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use gregor_protocol::StrBytes;

use crate::apis::metadata::CLUSTER_AUTHORIZED_OPERATIONS;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// Handles DescribeCluster.
pub fn describe_cluster(
    broker: &Arc<Broker>,
    request: &DescribeClusterRequest,
    ctx: &RequestContext,
) -> DescribeClusterResponse {
    let (host, port) = &ctx.endpoint.advertised;
    let node = BrokerId(broker.config.node_id);
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port)])
        // Without an authorizer Kafka grants every cluster operation.
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            i32::MIN
        })
}
