//! `__consumer_offsets` as Kafka 4.4 treats it (issue 13, defect 7): all-topics Metadata lists
//! it with `is_internal`, as does Metadata by name; a client's Produce to it is refused with
//! INVALID_TOPIC_EXCEPTION; altering its retention and adding partitions are accepted, as Kafka
//! accepts them. Kafka also deletes it when asked; Gregor refuses (its coordinator holds it).

use std::time::Duration;

use gregor_itests::bench::brokers::Kind;
use gregor_itests::raw::messages::create_partitions_request::CreatePartitionsTopic;
use gregor_itests::raw::messages::delete_topics_request::DeleteTopicState;
use gregor_itests::raw::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::metadata_response::MetadataResponseTopic;
use gregor_itests::raw::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_itests::raw::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::build_test_batch;

const OFFSETS: &str = "__consumer_offsets";
const INVALID_TOPIC_EXCEPTION: i16 = 17;

fn offsets_name() -> TopicName {
    TopicName(StrBytes::from_static_str(OFFSETS))
}

fn metadata(
    client: &mut RawClient,
    topics: Option<Vec<TopicName>>,
) -> anyhow::Result<MetadataResponse> {
    let topics = topics.map(|names| {
        names
            .into_iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(n)))
            .collect()
    });
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false);
    client.call(ApiKey::Metadata, 12, &request)
}

fn offsets_in(response: &MetadataResponse) -> Option<&MetadataResponseTopic> {
    response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == OFFSETS))
}

/// Kafka creates `__consumer_offsets` on the first FindCoordinator for a group; Gregor has it
/// from the start. Waits until all-topics Metadata lists it.
fn wait_for_offsets_topic(client: &mut RawClient) -> anyhow::Result<MetadataResponseTopic> {
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_static_str("internal-topics")]);
    let _: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &find)?;
    for _ in 0..100 {
        if let Some(topic) = offsets_in(&metadata(client, None)?) {
            return Ok(topic.clone());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("all-topics Metadata never listed {OFFSETS}")
}

#[test]
fn the_offsets_topic_is_listed_internal_and_closed_to_producers() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        let listed = wait_for_offsets_topic(&mut client)?;
        assert!(listed.is_internal);
        let named = metadata(&mut client, Some(vec![offsets_name()]))?;
        let named = offsets_in(&named).expect("asked for by name");
        assert_eq!(named.error_code, 0);
        assert!(named.is_internal);

        let batch = build_test_batch(1, 10, 1_700_000_000_000);
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(offsets_name())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.into()))])]);
        let produced: ProduceResponse = client.call(ApiKey::Produce, 9, &produce)?;
        let partition = &produced.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, INVALID_TOPIC_EXCEPTION);

        // Kafka accepts a retention override on its internal topic (it is compacted, so the
        // override has no effect there) and more partitions.
        let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(OFFSETS))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("86400000")))]),
        ]);
        let altered: IncrementalAlterConfigsResponse =
            client.call(ApiKey::IncrementalAlterConfigs, 1, &alter)?;
        assert_eq!(altered.responses[0].error_code, 0);
        let grow = CreatePartitionsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(offsets_name())
                .with_count(listed.partitions.len() as i32 + 1)
                .with_assignments(None)]);
        let grown: CreatePartitionsResponse = client.call(ApiKey::CreatePartitions, 3, &grow)?;
        assert_eq!(grown.results[0].error_code, 0);

        if broker.kind == Kind::Gregor {
            // Gregor's one deviation: its coordinator holds the log, so deletion is refused.
            let delete = DeleteTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(offsets_name()))
                ]);
            let deleted: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 6, &delete)?;
            assert_ne!(deleted.responses[0].error_code, 0);
            assert!(offsets_in(&metadata(&mut client, None)?).is_some());
        }
        Ok(())
    })
}
