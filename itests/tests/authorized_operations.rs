//! Without an authorizer, authorized operations asked for in Metadata (v8+) and DescribeCluster
//! come back as every operation of the resource, the bit fields Kafka answers (issue 13,
//! defect 6); not asked for, they stay INT32_MIN.

use gregor_itests::raw::messages::create_topics_request::CreatableTopic;
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeClusterRequest,
    DescribeClusterResponse, MetadataRequest, MetadataResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const TOPIC_OPERATIONS: i32 = 3576;
/// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
const CLUSTER_OPERATIONS: i32 = 8096;
const NOT_ASKED: i32 = i32::MIN;

fn metadata(
    client: &mut RawClient,
    version: i16,
    topic: &str,
    operations: bool,
) -> anyhow::Result<MetadataResponse> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false)
        .with_include_topic_authorized_operations(operations)
        .with_include_cluster_authorized_operations(operations && version <= 10);
    client.call(ApiKey::Metadata, version, &request)
}

#[test]
fn every_operation_is_authorized_without_an_authorizer() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("ops")))
                .with_num_partitions(1)
                .with_replication_factor(1)]);
        let created: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request)?;
        assert_eq!(created.topics[0].error_code, 0);

        let v10 = metadata(&mut client, 10, "ops", true)?;
        assert_eq!(v10.cluster_authorized_operations, CLUSTER_OPERATIONS);
        assert_eq!(v10.topics[0].topic_authorized_operations, TOPIC_OPERATIONS);
        let v12 = metadata(&mut client, 12, "ops", true)?;
        assert_eq!(v12.cluster_authorized_operations, NOT_ASKED);
        assert_eq!(v12.topics[0].topic_authorized_operations, TOPIC_OPERATIONS);
        let quiet = metadata(&mut client, 12, "ops", false)?;
        assert_eq!(quiet.topics[0].topic_authorized_operations, NOT_ASKED);

        let asked: DescribeClusterResponse = client.call(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )?;
        assert_eq!(asked.cluster_authorized_operations, CLUSTER_OPERATIONS);
        let not_asked: DescribeClusterResponse = client.call(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default(),
        )?;
        assert_eq!(not_asked.cluster_authorized_operations, NOT_ASKED);
        Ok(())
    })
}
