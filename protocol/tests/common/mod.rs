//! Requests of every API and version the broker accepts, for the tests of this directory.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use gregor_protocol::api_versions::ApiTable;
use gregor_protocol::codec::Encodable;
use gregor_protocol::messages::*;
use gregor_protocol::StrBytes;
use uuid::Uuid;

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}

fn two<T: Clone>(t: T) -> Vec<T> {
    vec![t.clone(), t]
}

/// A request of `api` at `version` with two elements in every array the version has, so
/// every nested shape is walked; strings, bytes and tagged fields where the version has them.
pub fn sample(api: ApiKey, v: i16) -> RequestKind {
    use kafka_protocol::messages::{
        alter_configs_request as ac, create_partitions_request as cp, create_topics_request as ct,
        delete_topics_request as dt, describe_configs_request as dc, fetch_request as fr,
        incremental_alter_configs_request as iac, join_group_request as jg,
        leave_group_request as lg, list_offsets_request as lo, metadata_request as md,
        offset_commit_request as oc, offset_delete_request as od, offset_fetch_request as of,
        produce_request as pr, sync_group_request as sg,
    };
    use kafka_protocol::messages::{
        alter_partition_reassignments_request as apr, create_acls_request as ca,
        delete_acls_request as da, delete_records_request as dr,
        describe_client_quotas_request as dcq, describe_log_dirs_request as dld,
        describe_producers_request as dp, describe_quorum_request as dq,
        describe_topic_partitions_request as dtp, describe_user_scram_credentials_request as dus,
        elect_leaders_request as el, list_partition_reassignments_request as lpr,
        offset_for_leader_epoch_request as ofle,
    };
    let uuid = Uuid::from_u128(0x1234_5678);
    match api {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_transactional_id(Some(s("tx").into()))
                .with_acks(-1)
                .with_topic_data(two(pr::TopicProduceData::default()
                    .with_name(if v <= 12 {
                        s("topic").into()
                    } else {
                        Default::default()
                    })
                    .with_topic_id(if v >= 13 { uuid } else { Uuid::nil() })
                    .with_partition_data(two(pr::PartitionProduceData::default()
                        .with_index(3)
                        .with_records(Some(Bytes::from_static(b"records")))))))
                .with_unknown_tagged_fields(tagged(v >= 9)),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_session_id(if v >= 7 { 5 } else { 0 })
                .with_topics(two(fr::FetchTopic::default()
                    .with_topic(if v <= 12 {
                        s("topic").into()
                    } else {
                        Default::default()
                    })
                    .with_topic_id(if v >= 13 { uuid } else { Uuid::nil() })
                    .with_partitions(two(fr::FetchPartition::default()
                        .with_fetch_offset(9)
                        .with_replica_directory_id(uuid)
                        .with_high_watermark(7)))))
                .with_forgotten_topics_data(if v >= 7 {
                    two(fr::ForgottenTopic::default()
                        .with_topic(if v <= 12 {
                            s("gone").into()
                        } else {
                            Default::default()
                        })
                        .with_topic_id(if v >= 13 { uuid } else { Uuid::nil() })
                        .with_partitions(vec![1, 2, 3]))
                } else {
                    vec![]
                })
                .with_rack_id(if v >= 11 { s("rack") } else { s("") })
                .with_cluster_id(if v >= 12 { Some(s("cluster")) } else { None })
                .with_replica_state(if v >= 15 {
                    fr::ReplicaState::default()
                        .with_replica_id(2.into())
                        .with_replica_epoch(3)
                } else {
                    Default::default()
                }),
        ),
        ApiKey::ListOffsets => RequestKind::ListOffsets(
            ListOffsetsRequest::default().with_topics(two(lo::ListOffsetsTopic::default()
                .with_name(s("t").into())
                .with_partitions(two(lo::ListOffsetsPartition::default().with_timestamp(-1))))),
        ),
        ApiKey::Metadata => RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(two(md::MetadataRequestTopic::default()
                    .with_name(Some(s("topic").into()))
                    .with_topic_id(if v >= 10 { uuid } else { Uuid::nil() }))))
                .with_unknown_tagged_fields(tagged(v >= 9)),
        ),
        ApiKey::ApiVersions => RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(if v >= 3 { s("gregor") } else { s("") })
                .with_client_software_version(if v >= 3 { s("1.0") } else { s("") }),
        ),
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default().with_topics(two(ct::CreatableTopic::default()
                .with_name(s("t").into())
                .with_assignments(two(ct::CreatableReplicaAssignment::default()
                    .with_broker_ids(vec![1.into(), 2.into()])))
                .with_configs(two(ct::CreatableTopicConfig::default()
                    .with_name(s("k"))
                    .with_value(Some(s("v"))))))),
        ),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(if v >= 6 {
            DeleteTopicsRequest::default().with_topics(two(dt::DeleteTopicState::default()
                .with_name(Some(s("t").into()))
                .with_topic_id(uuid)))
        } else {
            DeleteTopicsRequest::default().with_topic_names(two(s("t").into()))
        }),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default().with_topics(two(
                cp::CreatePartitionsTopic::default()
                    .with_name(s("t").into())
                    .with_assignments(Some(two(
                        cp::CreatePartitionsAssignment::default().with_broker_ids(vec![1.into()])
                    ))),
            )),
        ),
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default().with_transactional_id(Some(s("tx").into())),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(
            DescribeClusterRequest::default().with_unknown_tagged_fields(tagged(true)),
        ),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
            DescribeConfigsRequest::default().with_resources(two(
                dc::DescribeConfigsResource::default()
                    .with_resource_name(s("t"))
                    .with_configuration_keys(Some(two(s("retention.ms")))),
            )),
        ),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(
            AlterConfigsRequest::default()
                .with_resources(two(ac::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(two(ac::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000")))))))
                .with_validate_only(true),
        ),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default()
                .with_resources(two(iac::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(two(iac::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("1000")))))))
                .with_validate_only(true),
        ),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(two(s("g")))
        } else {
            FindCoordinatorRequest::default().with_key(s("g"))
        }),
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(s("g").into())
                .with_protocol_type(s("consumer"))
                .with_protocols(two(jg::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"meta")))),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(s("g").into())
                .with_assignments(two(sg::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(Bytes::from_static(b"assign")))),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(s("g").into())
                .with_member_id(s("m")),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(if v >= 3 {
            LeaveGroupRequest::default().with_members(two(lg::MemberIdentity::default()
                .with_member_id(s("m"))
                .with_reason(if v >= 5 { Some(s("bye")) } else { None })))
        } else {
            LeaveGroupRequest::default().with_member_id(s("m"))
        }),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default().with_topics(two(oc::OffsetCommitRequestTopic::default(
            )
            .with_name(s("t").into())
            .with_partitions(two(oc::OffsetCommitRequestPartition::default()
                .with_committed_offset(5)
                .with_committed_metadata(Some(s("md"))))))),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(if v >= 8 {
            OffsetFetchRequest::default().with_groups(two(of::OffsetFetchRequestGroup::default()
                .with_group_id(s("g").into())
                .with_topics(Some(two(of::OffsetFetchRequestTopics::default()
                    .with_name(s("t").into())
                    .with_partition_indexes(vec![0, 1]))))))
        } else {
            OffsetFetchRequest::default()
                .with_group_id(s("g").into())
                .with_topics(Some(two(of::OffsetFetchRequestTopic::default()
                    .with_name(s("t").into())
                    .with_partition_indexes(vec![0, 1]))))
        }),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(two(s("g").into())),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(
            ListGroupsRequest::default()
                .with_states_filter(if v >= 4 { two(s("Stable")) } else { vec![] })
                .with_types_filter(if v >= 5 { two(s("classic")) } else { vec![] }),
        ),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(two(s("g").into())),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(s("g").into())
                .with_topics(two(od::OffsetDeleteRequestTopic::default()
                    .with_name(s("t").into())
                    .with_partitions(two(od::OffsetDeleteRequestPartition::default())))),
        ),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(
            DeleteRecordsRequest::default().with_topics(two(dr::DeleteRecordsTopic::default()
                .with_name(s("t").into())
                .with_partitions(two(dr::DeleteRecordsPartition::default()
                    .with_partition_index(1)
                    .with_offset(5))))),
        ),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(two(
                ofle::OffsetForLeaderTopic::default()
                    .with_topic(s("t").into())
                    .with_partitions(two(ofle::OffsetForLeaderPartition::default()
                        .with_partition(1)
                        .with_current_leader_epoch(0)
                        .with_leader_epoch(0))),
            )),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(Some(s("t")))
                .with_principal_filter(Some(s("User:a")))
                .with_host_filter(None),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(
            CreateAclsRequest::default().with_creations(two(ca::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_principal(s("User:a"))
                .with_host(s("*")))),
        ),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(
            DeleteAclsRequest::default().with_filters(two(da::DeleteAclsFilter::default()
                .with_resource_name_filter(Some(s("t")))
                .with_principal_filter(None)
                .with_host_filter(Some(s("*"))))),
        ),
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(
            DescribeLogDirsRequest::default().with_topics(Some(two(
                dld::DescribableLogDirTopic::default()
                    .with_topic(s("t").into())
                    .with_partitions(vec![0, 1]),
            ))),
        ),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(
            ElectLeadersRequest::default().with_topic_partitions(Some(two(
                el::TopicPartitions::default()
                    .with_topic(s("t").into())
                    .with_partitions(vec![0, 1]),
            ))),
        ),
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default()
                .with_allow_replication_factor_change(v < 1)
                .with_topics(two(apr::ReassignableTopic::default()
                    .with_name(s("t").into())
                    .with_partitions(two(apr::ReassignablePartition::default()
                        .with_partition_index(1)
                        .with_replicas(Some(vec![1.into(), 2.into()]))))))
                .with_unknown_tagged_fields(tagged(true)),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default().with_topics(Some(two(
                lpr::ListPartitionReassignmentsTopics::default()
                    .with_name(s("t").into())
                    .with_partition_indexes(vec![0, 1]),
            ))),
        ),
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(
            DescribeClientQuotasRequest::default()
                .with_components(two(dcq::ComponentData::default()
                    .with_entity_type(s("user"))
                    .with_match_type(0)
                    .with_match(Some(s("alice")))))
                .with_strict(true),
        ),
        ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsRequest::default()
                .with_users(Some(two(dus::UserName::default().with_name(s("alice"))))),
        ),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-256")),
        ),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"n,,n=a,r=x")),
        ),
        ApiKey::AlterUserScramCredentials => {
            use kafka_protocol::messages::alter_user_scram_credentials_request as aus;
            RequestKind::AlterUserScramCredentials(
                AlterUserScramCredentialsRequest::default()
                    .with_deletions(two(aus::ScramCredentialDeletion::default()
                        .with_name(s("bob"))
                        .with_mechanism(1)))
                    .with_upsertions(two(aus::ScramCredentialUpsertion::default()
                        .with_name(s("alice"))
                        .with_mechanism(2)
                        .with_iterations(8192)
                        .with_salt(Bytes::from_static(b"salt"))
                        .with_salted_password(Bytes::from_static(b"0123456789")))),
            )
        }
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(
            DescribeQuorumRequest::default().with_topics(two(dq::TopicData::default()
                .with_topic_name(s("__cluster_metadata").into())
                .with_partitions(two(dq::PartitionData::default().with_partition_index(0))))),
        ),
        ApiKey::DescribeProducers => RequestKind::DescribeProducers(
            DescribeProducersRequest::default().with_topics(two(dp::TopicRequest::default()
                .with_name(s("t").into())
                .with_partition_indexes(vec![0, 1]))),
        ),
        ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(two(dtp::TopicRequest::default().with_name(s("t").into())))
                .with_response_partition_limit(10)
                .with_cursor(Some(
                    dtp::Cursor::default()
                        .with_topic_name(s("t").into())
                        .with_partition_index(1)
                        .with_unknown_tagged_fields(tagged(true)),
                )),
        ),
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(s("g").into())
                .with_member_id(s("m"))
                .with_instance_id(Some(s("i")))
                .with_subscribed_topic_names(Some(two(s("t").into())))
                .with_subscribed_topic_regex(if v >= 1 { Some(s("t.*")) } else { None })
                .with_server_assignor(Some(s("uniform")))
                .with_topic_partitions(Some(two(
                    kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(Uuid::from_u128(1))
                        .with_partitions(vec![0, 1]),
                ))),
        ),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(two(s("g").into()))
                .with_include_authorized_operations(true),
        ),
        ApiKey::AddPartitionsToTxn => {
            use kafka_protocol::messages::add_partitions_to_txn_request as apt;
            let topics = two(apt::AddPartitionsToTxnTopic::default()
                .with_name(s("t").into())
                .with_partitions(vec![0, 1]));
            RequestKind::AddPartitionsToTxn(if v >= 4 {
                AddPartitionsToTxnRequest::default().with_transactions(two(
                    apt::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(s("tx").into())
                        .with_verify_only(true)
                        .with_topics(topics),
                ))
            } else {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(s("tx").into())
                    .with_v3_and_below_topics(topics)
            })
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(s("tx").into())
                .with_group_id(s("g").into()),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(s("tx").into())
                .with_committed(true),
        ),
        ApiKey::TxnOffsetCommit => {
            use kafka_protocol::messages::txn_offset_commit_request as toc;
            RequestKind::TxnOffsetCommit(
                TxnOffsetCommitRequest::default()
                    .with_transactional_id(s("tx").into())
                    .with_group_id(s("g").into())
                    .with_member_id(if v >= 3 { s("m") } else { s("") })
                    .with_group_instance_id(if v >= 3 { Some(s("i")) } else { None })
                    .with_topics(two(toc::TxnOffsetCommitRequestTopic::default()
                        .with_name(s("t").into())
                        .with_partitions(two(
                            toc::TxnOffsetCommitRequestPartition::default()
                                .with_committed_offset(5)
                                .with_committed_metadata(Some(s("md"))),
                        )))),
            )
        }
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![s("a").into(), s("b").into()]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(two(s("Ongoing")))
                .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)])
                .with_duration_filter(if v >= 1 { 5 } else { -1 }),
        ),
        other => panic!("no sample for {other:?}"),
    }
}

fn tagged(flexible: bool) -> std::collections::BTreeMap<i32, Bytes> {
    let mut tags = std::collections::BTreeMap::new();
    if flexible {
        tags.insert(90, Bytes::from_static(b"unknown"));
    }
    tags
}

/// Every API and version the broker accepts.
pub fn accepted() -> Vec<(ApiKey, i16)> {
    let table = ApiTable::new(true);
    let mut out = Vec::new();
    for key in 0..100i16 {
        let Ok(api) = ApiKey::try_from(key) else {
            continue;
        };
        for version in 0..30 {
            if table.accepts(api, version) {
                out.push((api, version));
            }
        }
    }
    out
}

/// A whole request frame (header and body, no size prefix) of `sample(api, version)`.
pub fn request_frame(api: ApiKey, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("gregor-tests")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header encodes");
    sample(api, version)
        .encode(&mut buf, version)
        .expect("sample encodes");
    buf.to_vec()
}
