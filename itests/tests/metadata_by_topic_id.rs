//! Metadata v12+ by topic id (name null, as the Java admin's `describeTopics` by id sends it)
//! finds the topic Metadata named by that id; an unknown id gets UNKNOWN_TOPIC_ID (issue 13,
//! defect 8).

use std::time::Duration;

use gregor_itests::raw::messages::create_topics_request::CreatableTopic;
use gregor_itests::raw::messages::delete_topics_request::DeleteTopicState;
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    MetadataRequest, MetadataResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const UNKNOWN_TOPIC_ID: i16 = 100;

#[test]
fn metadata_finds_a_topic_by_its_id() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("by-id")))
                .with_num_partitions(2)
                .with_replication_factor(1)]);
        let created: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request)?;
        assert_eq!(created.topics[0].error_code, 0);
        let by_name = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("by-id"))))]))
            .with_allow_auto_topic_creation(false);
        let named: MetadataResponse = client.call(ApiKey::Metadata, 12, &by_name)?;
        let id = named.topics[0].topic_id;
        assert!(!id.is_nil());

        // The name null, as the spec says, or the empty string that a generated message's
        // default gives: Kafka goes by the id whenever one is set.
        let with_name = |name: Option<TopicName>| {
            MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(name)
                    .with_topic_id(id)]))
                .with_allow_auto_topic_creation(false)
        };
        let by_id = with_name(None);
        let empty_name = with_name(Some(TopicName(StrBytes::from_static_str(""))));
        for (version, request) in [(12, &by_id), (13, &by_id), (12, &empty_name)] {
            let found: MetadataResponse = client.call(ApiKey::Metadata, version, request)?;
            let topic = &found.topics[0];
            assert_eq!(topic.error_code, 0, "v{version}");
            assert_eq!(topic.topic_id, id);
            assert_eq!(topic.name.as_ref().map(|n| n.as_str()), Some("by-id"));
            assert_eq!(topic.partitions.len(), 2);
        }

        // Once the topic is deleted its id is unknown (Kafka's metadata cache learns of the
        // deletion shortly after the answer, hence the retries).
        let delete = DeleteTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(id)]);
        let deleted: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 6, &delete)?;
        assert_eq!(deleted.responses[0].error_code, 0);
        let mut code = 0;
        for _ in 0..50 {
            let missing: MetadataResponse = client.call(ApiKey::Metadata, 12, &by_id)?;
            code = missing.topics[0].error_code;
            if code == UNKNOWN_TOPIC_ID {
                assert!(missing.topics[0].partitions.is_empty());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(code, UNKNOWN_TOPIC_ID);
        Ok(())
    })
}
