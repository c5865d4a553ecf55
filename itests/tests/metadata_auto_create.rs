//! Auto-creation through Metadata, answered as Kafka 4.4 answers it (issue 13, defect 9): the
//! first request for a new name gets UNKNOWN_TOPIC_OR_PARTITION and no partitions while the
//! topic is created, a later one the topic with its partitions; an invalid name gets
//! INVALID_TOPIC_EXCEPTION, and with `auto.create.topics.enable=false` nothing is created.

use std::time::Duration;

use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;

/// Metadata v12 for `topic`: (error code, partition count).
fn ask(client: &mut RawClient, topic: &str, allow_create: bool) -> anyhow::Result<(i16, usize)> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(allow_create);
    let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &request)?;
    let t = &response.topics[0];
    Ok((t.error_code, t.partitions.len()))
}

#[test]
fn first_metadata_for_a_new_name_creates_it_without_partitions() -> anyhow::Result<()> {
    each_broker(&[("auto.create.topics.enable", "true")], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        assert_eq!(
            ask(&mut client, "fresh", true)?,
            (UNKNOWN_TOPIC_OR_PARTITION, 0)
        );
        // Kafka's controller creates it shortly after; Gregor has by the next request.
        let mut answer = (UNKNOWN_TOPIC_OR_PARTITION, 0);
        for _ in 0..50 {
            answer = ask(&mut client, "fresh", true)?;
            if answer.0 == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(answer, (0, 1));
        assert_eq!(
            ask(&mut client, "bad name!", true)?,
            (INVALID_TOPIC_EXCEPTION, 0)
        );
        // A client that does not allow creation creates nothing.
        assert_eq!(
            ask(&mut client, "not-asked", false)?,
            (UNKNOWN_TOPIC_OR_PARTITION, 0)
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            ask(&mut client, "not-asked", false)?,
            (UNKNOWN_TOPIC_OR_PARTITION, 0)
        );
        Ok(())
    })
}

#[test]
fn a_broker_without_auto_creation_creates_nothing() -> anyhow::Result<()> {
    each_broker(&[("auto.create.topics.enable", "false")], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        for _ in 0..2 {
            assert_eq!(
                ask(&mut client, "never", true)?,
                (UNKNOWN_TOPIC_OR_PARTITION, 0)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(
            ask(&mut client, "bad name!", true)?,
            (INVALID_TOPIC_EXCEPTION, 0)
        );
        Ok(())
    })
}
