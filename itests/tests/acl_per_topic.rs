//! The per-topic ACL checks of the group, transaction and topic APIs, as Kafka 4 takes them,
//! side by side with Apache Kafka when `GREGOR_VS_KAFKA=1` (StandardAuthorizer, KRaft): a
//! PLAINTEXT listener for the super user `User:ANONYMOUS` (Kafka's own broker and controller
//! traffic needs it) sets things up, and `User:alice` on SASL_PLAINTEXT (PLAIN) asks.
//! OffsetDelete (DELETE on the group, READ per topic), ConsumerGroupHeartbeat (DESCRIBE on each
//! subscribed name, a regex resolved against what the member may describe),
//! ConsumerGroupDescribe (DESCRIBE on the group and on its assignments' topics),
//! DescribeTransactions and ListTransactions (topics and ids filtered by DESCRIBE),
//! DescribeTopicPartitions (DESCRIBE per topic), Produce to a missing topic (no auto-creation
//! in Kafka 4; the transactional id checked for transactional records only) and CreateTopics (`topic_config_error_code` from DESCRIBE_CONFIGS).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use gregor_itests::bench::brokers::{kafka_lib_dir, Launcher, Running};
use gregor_itests::raw::messages::create_acls_request::AclCreation;
use gregor_itests::raw::messages::*;
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{kafka_only, vs_kafka, wait_for_group_coordinator};
use gregor_protocol::StrBytes;
use gregor_storage::batch::build_test_batch;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const NIL: &str = "00000000-0000-0000-0000-000000000000";

const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
    user_alice=\"alice-secret\";";

// Kafka's codes: resource TOPIC 2, GROUP 3, TRANSACTIONAL_ID 5; pattern LITERAL 3, PREFIXED 4;
// operation READ 3, WRITE 4, CREATE 5, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10; ALLOW 3.
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DELETE: i8 = 6;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn alice_acl(resource: i8, name: &str, pattern: i8, operation: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(3)
}

/// Runs `scenario` on Gregor and, with `GREGOR_VS_KAFKA`, on Kafka, each with the authorizer
/// and a SASL_PLAINTEXT listener beside PLAINTEXT.
fn each_broker(scenario: impl Fn(&Running) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let settings = [
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:ANONYMOUS;User:admin"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS),
    ];
    let mut launchers = Vec::new();
    if !kafka_only() {
        launchers.push(Launcher::Gregor(gregor_itests::gregor_bin()));
    }
    if vs_kafka() {
        launchers.push(Launcher::Kafka(kafka_lib_dir()?));
    }
    for launcher in launchers {
        let kind = launcher.kind();
        let broker = launcher.start_with_listeners(&settings, &["SASL_PLAINTEXT"])?;
        let outcome = scenario(&broker);
        let log = std::fs::read_to_string(broker.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        let stopped = broker.stop();
        outcome.with_context(|| format!("against {}; end of its log:\n{tail}", kind.name()))?;
        stopped?;
    }
    Ok(())
}

/// A connection authenticated as alice with SASL PLAIN (handshake v1, so KIP-152 framing).
fn alice(addr: &str) -> anyhow::Result<RawClient> {
    let mut c = RawClient::connect(addr)?;
    let shake: SaslHandshakeResponse = c.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
    )?;
    ensure!(shake.error_code == 0, "SaslHandshake: {}", shake.error_code);
    let auth: SaslAuthenticateResponse = c.call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0alice-secret")),
    )?;
    ensure!(
        auth.error_code == 0,
        "SaslAuthenticate: {}",
        auth.error_code
    );
    Ok(c)
}

/// Polls `f` until it gives `Some`, for what a broker does after answering (ACLs reaching the
/// broker's authorizer, coordinators loading, assignments being computed).
fn until<T>(what: &str, mut f: impl FnMut() -> anyhow::Result<Option<T>>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create_topics(c: &mut RawClient, names: &[&str]) -> anyhow::Result<CreateTopicsResponse> {
    use create_topics_request::CreatableTopic;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(
            names
                .iter()
                .map(|n| {
                    CreatableTopic::default()
                        .with_name(s(n).into())
                        .with_num_partitions(1)
                        .with_replication_factor(1)
                })
                .collect(),
        );
    c.call(ApiKey::CreateTopics, 7, &request)
}

fn topic_ids(c: &mut RawClient) -> anyhow::Result<BTreeMap<String, String>> {
    let all: MetadataResponse = c.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )?;
    Ok(all
        .topics
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?.to_string(), t.topic_id.to_string())))
        .collect())
}

/// One ConsumerGroupHeartbeat v1 of `member` (epoch 0 joins).
fn heartbeat(
    c: &mut RawClient,
    group: &str,
    member: &str,
    epoch: i32,
    names: Option<&[&str]>,
    regex: Option<&str>,
) -> anyhow::Result<ConsumerGroupHeartbeatResponse> {
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(s(group).into())
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(names.map(|n| n.iter().map(|t| s(t).into()).collect()))
        .with_subscribed_topic_regex(regex.map(s))
        .with_topic_partitions((epoch == 0).then(Vec::new));
    c.call(ApiKey::ConsumerGroupHeartbeat, 1, &request)
}

/// Joins `member` to `group` and heartbeats until it is assigned something; the topic ids of
/// its assignment.
fn join_until_assigned(
    c: &mut RawClient,
    group: &str,
    member: &str,
    names: Option<&[&str]>,
    regex: Option<&str>,
) -> anyhow::Result<BTreeSet<String>> {
    let mut epoch = 0;
    until(&format!("an assignment for {member}"), || {
        let r = heartbeat(c, group, member, epoch, names, regex)?;
        ensure!(r.error_code == 0, "heartbeat of {member}: {}", r.error_code);
        epoch = r.member_epoch;
        Ok(r.assignment
            .filter(|a| !a.topic_partitions.is_empty())
            .map(|a| {
                a.topic_partitions
                    .iter()
                    .map(|t| t.topic_id.to_string())
                    .collect()
            }))
    })
}

/// Starts a transaction of `id` holding partition 0 of each of `topics`.
fn open_transaction(c: &mut RawClient, id: &str, topics: &[&str]) -> anyhow::Result<()> {
    let (pid, epoch) = until(&format!("a producer id for {id}"), || {
        let found: FindCoordinatorResponse = c.call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(s(id))
                .with_key_type(1),
        )?;
        if found.error_code != 0 {
            return Ok(None);
        }
        let init: InitProducerIdResponse = c.call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(s(id).into()))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )?;
        Ok((init.error_code == 0).then_some((init.producer_id, init.producer_epoch)))
    })?;
    use add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let added: AddPartitionsToTxnResponse = c.call(
        ApiKey::AddPartitionsToTxn,
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(s(id).into())
            .with_v3_and_below_producer_id(pid)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(
                topics
                    .iter()
                    .map(|t| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(s(t).into())
                            .with_partitions(vec![0])
                    })
                    .collect(),
            ),
    )?;
    for t in &added.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            ensure!(
                p.partition_error_code == 0,
                "AddPartitionsToTxn {}: {}",
                t.name.as_str(),
                p.partition_error_code
            );
        }
    }
    Ok(())
}

#[test]
fn per_topic_checks_as_kafka_4_takes_them() -> anyhow::Result<()> {
    each_broker(|broker| {
        let mut admin = RawClient::connect(&broker.bootstrap)?;
        let created = create_topics(&mut admin, &["t-read", "t-hidden"])?;
        for t in &created.topics {
            ensure!(
                t.error_code == 0,
                "creating {}: {}",
                t.name.as_str(),
                t.error_code
            );
        }
        admin.wait_for_topic("t-read")?;
        admin.wait_for_topic("t-hidden")?;
        let ids = topic_ids(&mut admin)?;

        let acls = vec![
            alice_acl(2, "t-read", 3, READ),
            alice_acl(2, "w-", 4, WRITE),
            alice_acl(2, "c-", 4, CREATE),
            alice_acl(2, "c-1", 3, DESCRIBE_CONFIGS),
            alice_acl(3, "g-", 4, READ),
            alice_acl(3, "g-del", 3, DELETE),
            alice_acl(5, "tx-a", 3, DESCRIBE),
        ];
        let count = acls.len();
        let made: CreateAclsResponse = admin.call(
            ApiKey::CreateAcls,
            3,
            &CreateAclsRequest::default().with_creations(acls),
        )?;
        let codes: Vec<i16> = made.results.iter().map(|r| r.error_code).collect();
        ensure!(codes.iter().all(|&c| c == 0), "CreateAcls: {codes:?}");
        // Kafka's broker authorizer learns them from the metadata log after answering.
        until("the ACLs on the broker", || {
            let described: DescribeAclsResponse = admin.call(
                ApiKey::DescribeAcls,
                3,
                &DescribeAclsRequest::default()
                    .with_resource_type_filter(1)
                    .with_resource_name_filter(None)
                    .with_pattern_type_filter(1)
                    .with_principal_filter(Some(s("User:alice")))
                    .with_host_filter(None)
                    .with_operation(1)
                    .with_permission_type(1),
            )?;
            ensure!(
                described.error_code == 0,
                "DescribeAcls: {}",
                described.error_code
            );
            let n: usize = described.resources.iter().map(|r| r.acls.len()).sum();
            ensure!(n <= count, "DescribeAcls found {n} ACLs of alice");
            Ok((n == count).then_some(()))
        })?;
        let mut alice = alice(broker.listener("SASL_PLAINTEXT")?)?;

        offset_delete(&mut admin, &mut alice, &broker.bootstrap)?;
        groups(&mut admin, &mut alice, &ids)?;
        transactions(&mut admin, &mut alice)?;
        describe_topic_partitions(&mut alice, &ids)?;
        produce_to_missing(&mut admin, &mut alice)?;
        create_topics_configs(&mut alice)?;
        Ok(())
    })
}

/// DELETE on the group (READ is not enough), then READ per topic.
fn offset_delete(
    admin: &mut RawClient,
    alice: &mut RawClient,
    bootstrap: &str,
) -> anyhow::Result<()> {
    use offset_commit_request::*;
    use offset_delete_request::*;
    wait_for_group_coordinator(bootstrap, "g-del")?;
    let topics: Vec<OffsetCommitRequestTopic> = ["t-read", "t-hidden"]
        .iter()
        .map(|t| {
            OffsetCommitRequestTopic::default()
                .with_name(s(t).into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(0)
                    .with_committed_leader_epoch(-1)])
        })
        .collect();
    let committed: OffsetCommitResponse = admin.call(
        ApiKey::OffsetCommit,
        8,
        &OffsetCommitRequest::default()
            .with_group_id(s("g-del").into())
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(topics),
    )?;
    for t in &committed.topics {
        ensure!(
            t.partitions[0].error_code == 0,
            "OffsetCommit {}",
            t.name.as_str()
        );
    }
    let request = |group: &str| {
        OffsetDeleteRequest::default()
            .with_group_id(s(group).into())
            .with_topics(
                ["t-read", "t-hidden"]
                    .iter()
                    .map(|t| {
                        OffsetDeleteRequestTopic::default()
                            .with_name(s(t).into())
                            .with_partitions(vec![
                                OffsetDeleteRequestPartition::default().with_partition_index(0)
                            ])
                    })
                    .collect(),
            )
    };
    let deleted: OffsetDeleteResponse = alice.call(ApiKey::OffsetDelete, 0, &request("g-del"))?;
    assert_eq!(deleted.error_code, 0);
    let codes: BTreeMap<String, i16> = deleted
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        codes,
        BTreeMap::from([
            ("t-hidden".to_string(), TOPIC_AUTHORIZATION_FAILED),
            ("t-read".to_string(), 0)
        ]),
        "OffsetDelete per topic"
    );
    let read_only: OffsetDeleteResponse =
        alice.call(ApiKey::OffsetDelete, 0, &request("g-read"))?;
    assert_eq!(
        read_only.error_code, GROUP_AUTHORIZATION_FAILED,
        "OffsetDelete with READ only"
    );
    assert!(read_only.topics.is_empty());
    Ok(())
}

/// ConsumerGroupHeartbeat and ConsumerGroupDescribe.
fn groups(
    admin: &mut RawClient,
    alice: &mut RawClient,
    ids: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let denied = heartbeat(
        alice,
        "g-cg",
        "m-denied",
        0,
        Some(&["t-read", "t-hidden"]),
        None,
    )?;
    assert_eq!(
        denied.error_code, TOPIC_AUTHORIZATION_FAILED,
        "heartbeat naming t-hidden"
    );
    assert_eq!(denied.member_id, None);
    let no_group = heartbeat(alice, "h-cg", "m-nogroup", 0, Some(&["t-hidden"]), None)?;
    assert_eq!(
        no_group.error_code, GROUP_AUTHORIZATION_FAILED,
        "the group is checked first"
    );

    let named = join_until_assigned(alice, "g-cg", "m-named", Some(&["t-read"]), None)?;
    assert_eq!(named, BTreeSet::from([ids["t-read"].clone()]));
    // A regex resolves only to the topics the heartbeating member may describe (Kafka's
    // `GroupMetadataManager.refreshRegularExpressions`): t-hidden matches but is not assigned.
    let matched = join_until_assigned(alice, "g-rx", "m-regex", None, Some("t-.*"))?;
    assert_eq!(
        matched,
        BTreeSet::from([ids["t-read"].clone()]),
        "regex assignment"
    );
    // The admin's group is assigned t-hidden, which alice may not describe.
    join_until_assigned(admin, "g-adm", "m-admin", Some(&["t-hidden"]), None)?;

    let described: ConsumerGroupDescribeResponse = alice.call(
        ApiKey::ConsumerGroupDescribe,
        1,
        &ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![s("g-cg").into(), s("g-adm").into(), s("h-adm").into()])
            .with_include_authorized_operations(true),
    )?;
    let by_group: BTreeMap<String, _> = described
        .groups
        .iter()
        .map(|g| (g.group_id.to_string(), g))
        .collect();
    let cg = by_group["g-cg"];
    assert_eq!(cg.error_code, 0);
    assert_eq!(cg.members.len(), 1);
    // READ 3 and the DESCRIBE 8 it implies.
    assert_eq!(cg.authorized_operations, 1 << 3 | 1 << 8);
    let adm = by_group["g-adm"];
    assert_eq!(
        adm.error_code, TOPIC_AUTHORIZATION_FAILED,
        "describing g-adm"
    );
    assert_eq!(
        adm.error_message.as_deref(),
        Some("The group has described topic(s) that the client is not authorized to describe.")
    );
    assert!(adm.members.is_empty());
    assert_eq!(by_group["h-adm"].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(
        described.groups[0].group_id.as_str(),
        "h-adm",
        "denied groups first"
    );
    Ok(())
}

/// DescribeTransactions leaves out the topics alice may not describe; ListTransactions the ids.
fn transactions(admin: &mut RawClient, alice: &mut RawClient) -> anyhow::Result<()> {
    open_transaction(admin, "tx-a", &["t-read", "t-hidden"])?;
    open_transaction(admin, "tx-b", &["t-read"])?;
    let described: DescribeTransactionsResponse = alice.call(
        ApiKey::DescribeTransactions,
        0,
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![s("tx-a").into(), s("tx-b").into()]),
    )?;
    let a = &described.transaction_states[0];
    assert_eq!((a.transactional_id.as_str(), a.error_code), ("tx-a", 0));
    assert_eq!(a.transaction_state.as_str(), "Ongoing");
    let topics: Vec<&str> = a.topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(topics, vec!["t-read"], "tx-a's topics");
    let b = &described.transaction_states[1];
    assert_eq!(
        (b.transactional_id.as_str(), b.error_code),
        ("tx-b", TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    );
    assert_eq!(b.transaction_state.as_str(), "");
    assert_eq!(
        (b.producer_id.0, b.producer_epoch),
        (0, 0),
        "a denied id's defaults"
    );
    assert!(b.topics.is_empty());

    let listed: ListTransactionsResponse = alice.call(
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default(),
    )?;
    let ids: Vec<&str> = listed
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.as_str())
        .collect();
    assert_eq!(ids, vec!["tx-a"]);
    Ok(())
}

/// DESCRIBE per topic: named ones denied after the rest without an id; all-topics leaves
/// them out.
fn describe_topic_partitions(
    alice: &mut RawClient,
    ids: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    use describe_topic_partitions_request::TopicRequest;
    let ask =
        |c: &mut RawClient, names: &[&str]| -> anyhow::Result<DescribeTopicPartitionsResponse> {
            c.call(
                ApiKey::DescribeTopicPartitions,
                0,
                &DescribeTopicPartitionsRequest::default()
                    .with_response_partition_limit(2000)
                    .with_topics(
                        names
                            .iter()
                            .map(|n| TopicRequest::default().with_name(s(n).into()))
                            .collect(),
                    ),
            )
        };
    let named = ask(alice, &["t-read", "t-hidden", "x-missing", "w-missing"])?;
    let got: BTreeMap<String, (i16, String, i32)> = named
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                (
                    t.error_code,
                    t.topic_id.to_string(),
                    t.topic_authorized_operations,
                ),
            )
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            (
                "t-read".to_string(),
                (0, ids["t-read"].clone(), 1 << 3 | 1 << 8)
            ),
            (
                "t-hidden".to_string(),
                (TOPIC_AUTHORIZATION_FAILED, NIL.to_string(), i32::MIN)
            ),
            (
                "x-missing".to_string(),
                (TOPIC_AUTHORIZATION_FAILED, NIL.to_string(), i32::MIN)
            ),
            // WRITE on w- implies DESCRIBE: its absence is no secret. WRITE 4, DESCRIBE 8.
            (
                "w-missing".to_string(),
                (UNKNOWN_TOPIC_OR_PARTITION, NIL.to_string(), 1 << 4 | 1 << 8)
            ),
        ]),
        "DescribeTopicPartitions by name"
    );
    let last: Vec<i16> = named.topics[2..].iter().map(|t| t.error_code).collect();
    assert_eq!(
        last,
        vec![TOPIC_AUTHORIZATION_FAILED; 2],
        "denied ones last"
    );
    let all = ask(alice, &[])?;
    let names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, vec!["t-read".to_string()], "all topics");
    assert_eq!(all.next_cursor, None);
    Ok(())
}

/// Produce does not create topics in Kafka 4: WRITE on a missing topic answers
/// UNKNOWN_TOPIC_OR_PARTITION, without WRITE TOPIC_AUTHORIZATION_FAILED, and neither creates.
fn produce_to_missing(admin: &mut RawClient, alice: &mut RawClient) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let (written, _) = alice.produce("w-missing", -1, build_test_batch(0, 1, now))?;
    assert_eq!(written, UNKNOWN_TOPIC_OR_PARTITION, "Produce with WRITE");
    let (denied, _) = alice.produce("x-missing", -1, build_test_batch(0, 1, now))?;
    assert_eq!(denied, TOPIC_AUTHORIZATION_FAILED, "Produce without WRITE");
    // A transactional id on records that are not transactional is not checked (Kafka's
    // `hasTransactionalRecords`): alice has no WRITE on tx-z.
    use produce_request::{PartitionProduceData, TopicProduceData};
    let with_id: ProduceResponse = alice.call(
        ApiKey::Produce,
        9,
        &ProduceRequest::default()
            .with_transactional_id(Some(s("tx-z").into()))
            .with_acks(-1)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(s("w-missing").into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(build_test_batch(0, 1, now).into()))])]),
    )?;
    assert_eq!(
        with_id.responses[0].partition_responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "Produce of plain records with a transactional id"
    );
    let ids = topic_ids(admin)?;
    assert!(!ids.contains_key("w-missing") && !ids.contains_key("x-missing"));
    Ok(())
}

/// CREATE on c-*, DESCRIBE_CONFIGS on c-1 only: c-2's configs are not answered.
fn create_topics_configs(alice: &mut RawClient) -> anyhow::Result<()> {
    let created = create_topics(alice, &["c-1", "c-2", "x-3"])?;
    let by_name: BTreeMap<String, _> = created
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t))
        .collect();
    let c1 = by_name["c-1"];
    assert_eq!((c1.error_code, c1.topic_config_error_code), (0, 0));
    assert_eq!((c1.num_partitions, c1.replication_factor), (1, 1));
    assert!(c1.configs.as_ref().is_some_and(|c| !c.is_empty()));
    let c2 = by_name["c-2"];
    assert_eq!(
        (c2.error_code, c2.topic_config_error_code),
        (0, TOPIC_AUTHORIZATION_FAILED),
        "c-2 without DESCRIBE_CONFIGS"
    );
    assert_eq!((c2.num_partitions, c2.replication_factor), (-1, -1));
    assert_eq!(c2.configs.as_ref().map(Vec::len), Some(0));
    assert!(!c2.topic_id.is_nil());
    let x3 = by_name["x-3"];
    assert_eq!(
        (x3.error_code, x3.topic_config_error_code),
        (TOPIC_AUTHORIZATION_FAILED, 0)
    );
    assert_eq!(x3.error_message.as_deref(), Some("Authorization failed."));
    assert_eq!((x3.num_partitions, x3.replication_factor), (-1, -1));
    Ok(())
}
