//! Each authorization error code from the request Kafka answers it for, on a PLAINTEXT
//! listener (`User:ANONYMOUS`) whose only ACL at start, seeded in the data dir, is ALTER on the
//! cluster: CreateAcls grants the rest; CreateTopics, Metadata (named and all topics, with the
//! authorized-operations bit fields), OffsetForLeaderEpoch, DescribeProducers, JoinGroup,
//! InitProducerId, FindCoordinator and the ACL
//! APIs answer TOPIC_, GROUP_, TRANSACTIONAL_ID_ and CLUSTER_AUTHORIZATION_FAILED or
//! INVALID_REQUEST as Kafka does.

use gregor_itests::raw::messages::create_acls_request::AclCreation;
use gregor_itests::raw::messages::create_topics_request::CreatableTopic;
use gregor_itests::raw::messages::delete_acls_request::DeleteAclsFilter;
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::*;
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

// Kafka's codes: resource TOPIC 2, CLUSTER 4; pattern LITERAL 3, PREFIXED 4, MATCH 2;
// operation WRITE 4, CREATE 5, ALTER 7, DESCRIBE 8; permission DENY 2, ALLOW 3.
fn acl(resource: i8, name: &str, pattern: i8, operation: i8, permission: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s("User:ANONYMOUS"))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create_acls(c: &mut RawClient, acls: Vec<AclCreation>) -> anyhow::Result<Vec<i16>> {
    let r: CreateAclsResponse = c.call(
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(acls),
    )?;
    Ok(r.results.iter().map(|r| r.error_code).collect())
}

fn metadata(c: &mut RawClient, topics: Option<&[&str]>) -> anyhow::Result<MetadataResponse> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(s(n).into())))
                .collect()
        }))
        .with_allow_auto_topic_creation(true)
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    c.call(ApiKey::Metadata, 10, &request)
}

#[test]
fn every_authorization_error_from_its_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("acls.json"),
        r#"{"acls":[{"resource_type":4,"name":"kafka-cluster","pattern_type":3,"principal":"User:ANONYMOUS","host":"*","operation":7,"permission":3}]}"#,
    )?;
    let broker = TestBroker::start_in(
        dir.path(),
        &[
            "--set",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ],
    )?;
    let mut c = RawClient::connect(&broker.bootstrap())?;

    // CREATE on made-*, WRITE (so DESCRIBE) on made-1 only.
    assert_eq!(
        create_acls(
            &mut c,
            vec![
                acl(2, "made-", 4, 5, 3),
                acl(2, "made-1", 3, 4, 3),
                acl(2, "x", 2, 4, 3)
            ]
        )?,
        vec![0, 0, INVALID_REQUEST]
    );
    let created: CreateTopicsResponse = c.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(
                ["made-1", "made-2", "other"]
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(s(n).into())
                            .with_num_partitions(1)
                            .with_replication_factor(1)
                    })
                    .collect(),
            ),
    )?;
    let codes: Vec<(String, i16)> = created
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.error_code))
        .collect();
    assert!(codes.contains(&("made-1".into(), 0)), "{codes:?}");
    assert!(codes.contains(&("made-2".into(), 0)), "{codes:?}");
    assert!(
        codes.contains(&("other".into(), TOPIC_AUTHORIZATION_FAILED)),
        "{codes:?}"
    );

    // All topics: made-2 (CREATE does not imply DESCRIBE) is left out.
    let all = metadata(&mut c, None)?;
    let names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, vec!["made-1".to_string()]);
    // WRITE 4, CREATE 5 (prefixed), DESCRIBE 8; the cluster: ALTER 7 and the DESCRIBE it implies.
    assert_eq!(
        all.topics[0].topic_authorized_operations,
        1 << 4 | 1 << 5 | 1 << 8
    );
    assert_eq!(all.cluster_authorized_operations, 1 << 7 | 1 << 8);
    let named = metadata(&mut c, Some(&["made-2", "not-yet"]))?;
    let codes: Vec<i16> = named.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![TOPIC_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED]
    );

    // OffsetForLeaderEpoch needs DESCRIBE (made-1 has it through WRITE), DescribeProducers READ.
    let epochs: OffsetForLeaderEpochResponse = c.call(
        ApiKey::OffsetForLeaderEpoch,
        4,
        &OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                ["made-1", "made-2"]
                    .iter()
                    .map(|n| {
                        use offset_for_leader_epoch_request::*;
                        OffsetForLeaderTopic::default()
                            .with_topic(s(n).into())
                            .with_partitions(vec![OffsetForLeaderPartition::default()
                                .with_current_leader_epoch(-1)
                                .with_leader_epoch(0)])
                    })
                    .collect(),
            ),
    )?;
    let mut codes: Vec<(String, i16)> = epochs
        .topics
        .iter()
        .map(|t| (t.topic.to_string(), t.partitions[0].error_code))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("made-1".into(), 0),
            ("made-2".into(), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
    let producers: DescribeProducersResponse = c.call(
        ApiKey::DescribeProducers,
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(s("made-1").into())
                .with_partition_indexes(vec![0]),
        ]),
    )?;
    assert_eq!(
        producers.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    let joined: JoinGroupResponse = c.call(
        ApiKey::JoinGroup,
        5,
        &JoinGroupRequest::default()
            .with_group_id(s("g").into())
            .with_session_timeout_ms(10000)
            .with_rebalance_timeout_ms(10000)
            .with_protocol_type(s("consumer")),
    )?;
    assert_eq!(joined.error_code, GROUP_AUTHORIZATION_FAILED);
    let found: FindCoordinatorResponse = c.call(
        ApiKey::FindCoordinator,
        2,
        &FindCoordinatorRequest::default()
            .with_key(s("tx"))
            .with_key_type(1),
    )?;
    assert_eq!(found.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    let init = |c: &mut RawClient, id: Option<&str>| -> anyhow::Result<i16> {
        let r: InitProducerIdResponse = c.call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(id.map(|i| s(i).into()))
                .with_transaction_timeout_ms(60000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )?;
        Ok(r.error_code)
    };
    assert_eq!(
        init(&mut c, Some("tx"))?,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // Idempotent: WRITE on some topic is enough (KIP-679).
    assert_eq!(init(&mut c, None)?, 0);

    let deleted: DeleteAclsResponse = c.call(
        ApiKey::DeleteAcls,
        3,
        &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(2)
            .with_pattern_type_filter(0)
            .with_operation(1)
            .with_permission_type(1)]),
    )?;
    assert_eq!(deleted.filter_results[0].error_code, INVALID_REQUEST);

    // Denying itself ALTER on the cluster: no more ACL changes, but DESCRIBE (implied by the
    // ALLOW of ALTER, not denied by a DENY of ALTER) still lists them.
    assert_eq!(
        create_acls(&mut c, vec![acl(4, "kafka-cluster", 3, 7, 2)])?,
        vec![0]
    );
    assert_eq!(
        create_acls(&mut c, vec![acl(2, "more", 3, 4, 3)])?,
        vec![CLUSTER_AUTHORIZATION_FAILED]
    );
    let described: DescribeAclsResponse = c.call(
        ApiKey::DescribeAcls,
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(1)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    )?;
    assert_eq!(described.error_code, 0);
    let count: usize = described.resources.iter().map(|r| r.acls.len()).sum();
    assert_eq!(count, 4);
    Ok(())
}
