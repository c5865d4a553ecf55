//! The ACL check of each API, taken once before its handler, as Kafka's `KafkaApis` and
//! `AuthHelper` take it: a request the caller may not make at all is answered here (GROUP_,
//! TRANSACTIONAL_ID_, CLUSTER_AUTHORIZATION_FAILED); the topics, groups or resources it may not
//! touch are taken out of the request and answered TOPIC_AUTHORIZATION_FAILED (or the
//! resource's code) beside what the handler answers for the rest; all-topics Metadata,
//! ListGroups and ListTransactions leave out what the caller may not describe; authorized
//! operations fields are filled from the ACLs. Handlers never see ACLs. Without an authorizer
//! everything passes untouched.

use std::collections::HashSet;
use std::sync::Arc;

use gregor_protocol::messages::*;
use gregor_protocol::request::Request;
use gregor_protocol::{ResponseError, StrBytes};

use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::security::acl_store::AclStore;
use crate::security::authorizer::{
    AclOperation as Op, Requester, ResourceType as Rt, CLUSTER_NAME,
};

/// Who asks, and the ACLs to ask, when there is an authorizer.
#[derive(Clone)]
pub struct Access {
    store: Option<Arc<AclStore>>,
    who: Requester,
}

impl Access {
    /// The access of the request's connection.
    pub fn of(broker: &Broker, ctx: &RequestContext) -> Access {
        Access {
            store: broker.acls.clone(),
            who: Requester::new(&ctx.principal, ctx.peer.ip()),
        }
    }

    /// Whether an authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.store.is_some()
    }

    /// Whether the caller may do `op` on the resource (always, without an authorizer).
    pub fn allows(&self, op: Op, rt: Rt, name: &str) -> bool {
        self.store
            .as_ref()
            .is_none_or(|s| s.authorize(&self.who, op, rt, name))
    }

    /// Whether the caller may do `op` on the cluster.
    pub fn cluster(&self, op: Op) -> bool {
        self.allows(op, Rt::Cluster, CLUSTER_NAME)
    }

    fn topic(&self, op: Op, name: &str) -> bool {
        self.allows(op, Rt::Topic, name)
    }

    fn group(&self, op: Op, name: &str) -> bool {
        self.allows(op, Rt::Group, name)
    }

    fn txn(&self, name: &str) -> bool {
        self.allows(Op::Write, Rt::TransactionalId, name)
    }

    /// The authorized-operations bit field of a resource.
    fn operations(&self, rt: Rt, name: &str) -> i32 {
        match &self.store {
            Some(s) => s.authorized_operations(&self.who, rt, name),
            None => i32::MIN,
        }
    }

    /// An idempotent producer's InitProducerId: IDEMPOTENT_WRITE on the cluster, or WRITE on
    /// some topic (KIP-679).
    fn idempotent_write(&self) -> bool {
        self.cluster(Op::IdempotentWrite)
            || self
                .store
                .as_ref()
                .is_none_or(|s| s.authorize_by_resource_type(&self.who, Op::Write, Rt::Topic))
    }
}

/// What is done to a handler's response: answers for what was taken out of the request, or
/// filtering and authorized operations.
pub type Patch = Box<dyn FnOnce(ResponseKind) -> ResponseKind + Send>;

/// The outcome of the check.
pub enum Gate {
    /// Answer this, without the handler.
    Refuse(ResponseKind),
    /// Hand the handler the request (or this copy with what the caller may not touch taken
    /// out), then apply the patch to its response.
    Pass(Option<Request>, Option<Patch>),
}

const TOPIC_DENIED: i16 = ResponseError::TopicAuthorizationFailed.code();
const GROUP_DENIED: i16 = ResponseError::GroupAuthorizationFailed.code();
const CLUSTER_DENIED: i16 = ResponseError::ClusterAuthorizationFailed.code();
const TXN_DENIED: i16 = ResponseError::TransactionalIdAuthorizationFailed.code();

fn with_body(request: &Request, body: RequestKind) -> Option<Request> {
    Some(Request {
        header: request.header.clone(),
        api_key: request.api_key,
        version: request.version,
        body,
    })
}

/// `request` with the body `body` makes when something was taken out of it (`narrowed`);
/// `None`, the request as it came, otherwise.
fn rewrite_if(
    narrowed: bool,
    request: &Request,
    body: impl FnOnce() -> RequestKind,
) -> Option<Request> {
    if narrowed {
        with_body(request, body())
    } else {
        None
    }
}

fn patch(f: impl FnOnce(ResponseKind) -> ResponseKind + Send + 'static) -> Option<Patch> {
    Some(Box::new(f))
}

/// Splits `items` by `allowed`. All allowed: the request passes as it is. Otherwise it passes
/// rebuilt from the kept items (`rebuild`), and `answer` adds the denied ones' errors to the
/// handler's response.
fn narrow<T: Clone + Send + 'static>(
    request: &Request,
    items: &[T],
    allowed: impl Fn(&T) -> bool,
    rebuild: impl FnOnce(Vec<T>) -> RequestKind,
    answer: impl FnOnce(ResponseKind, Vec<T>) -> ResponseKind + Send + 'static,
) -> Gate {
    let (kept, denied): (Vec<T>, Vec<T>) = items.iter().cloned().partition(|t| allowed(t));
    if denied.is_empty() {
        return Gate::Pass(None, None);
    }
    Gate::Pass(
        with_body(request, rebuild(kept)),
        patch(move |resp| answer(resp, denied)),
    )
}

/// Takes the check of `request`.
pub fn check(broker: &Broker, access: &Access, request: &Request) -> Gate {
    if !access.enabled() {
        return Gate::Pass(None, None);
    }
    let a = access;
    let v = request.version;
    let pass = Gate::Pass(None, None);
    let cluster_only = |op: Op, refuse: ResponseKind| {
        if a.cluster(op) {
            Gate::Pass(None, None)
        } else {
            Gate::Refuse(refuse)
        }
    };
    match &request.body {
        RequestKind::Produce(r) => produce(broker, a, request, r, v),
        RequestKind::Fetch(r) => fetch(broker, a, request, r, v),
        RequestKind::ListOffsets(r) => {
            narrow(
                request,
                &r.topics,
                |t| a.topic(Op::Describe, t.name.as_str()),
                |kept| RequestKind::ListOffsets(r.clone().with_topics(kept)),
                move |resp, denied| match resp {
                    ResponseKind::ListOffsets(mut resp) => {
                        use list_offsets_response::*;
                        for t in denied {
                            resp.topics.push(
                                ListOffsetsTopicResponse::default()
                                    .with_name(t.name.clone())
                                    .with_partitions(
                                        t.partitions
                                            .iter()
                                            .map(|p| {
                                                ListOffsetsPartitionResponse::default()
                                                    .with_partition_index(p.partition_index)
                                                    .with_error_code(TOPIC_DENIED)
                                                    .with_timestamp(-1)
                                                    .with_offset(-1)
                                                    .with_leader_epoch(-1)
                                            })
                                            .collect(),
                                    ),
                            );
                        }
                        ResponseKind::ListOffsets(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::Metadata(r) => metadata(broker, a, request, r, v),
        RequestKind::CreateTopics(r) => create_topics(a, request, r),
        RequestKind::DeleteTopics(r) => {
            // By name (v0-5) or by name or id (v6+): the id's topic is looked up to authorize.
            let name_of = |t: &delete_topics_request::DeleteTopicState| {
                t.name.as_ref().map(|n| n.to_string()).or_else(|| {
                    broker.topics.by_id(t.topic_id).map(|m| m.name.clone())
                })
            };
            let (names_kept, names_denied): (Vec<_>, Vec<_>) = r
                .topic_names
                .iter()
                .cloned()
                .partition(|n| a.topic(Op::Delete, n.as_str()));
            let (kept, denied): (Vec<_>, Vec<_>) = r
                .topics
                .iter()
                .cloned()
                .partition(|t| name_of(t).is_none_or(|n| a.topic(Op::Delete, &n)));
            if names_denied.is_empty() && denied.is_empty() {
                return pass;
            }
            let body = RequestKind::DeleteTopics(
                r.clone().with_topic_names(names_kept).with_topics(kept),
            );
            Gate::Pass(
                with_body(request, body),
                patch(move |resp| match resp {
                    ResponseKind::DeleteTopics(mut resp) => {
                        use delete_topics_response::DeletableTopicResult;
                        for n in names_denied {
                            resp.responses.push(
                                DeletableTopicResult::default()
                                    .with_name(Some(n))
                                    .with_error_code(TOPIC_DENIED),
                            );
                        }
                        for t in denied {
                            resp.responses.push(
                                DeletableTopicResult::default()
                                    .with_name(t.name)
                                    .with_topic_id(t.topic_id)
                                    .with_error_code(TOPIC_DENIED),
                            );
                        }
                        ResponseKind::DeleteTopics(resp)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::CreatePartitions(r) => {
            narrow(
                request,
                &r.topics,
                |t| a.topic(Op::Alter, t.name.as_str()),
                |kept| RequestKind::CreatePartitions(r.clone().with_topics(kept)),
                move |resp, denied| match resp {
                    ResponseKind::CreatePartitions(mut resp) => {
                        for t in denied {
                            resp.results.push(
                                create_partitions_response::CreatePartitionsTopicResult::default()
                                    .with_name(t.name)
                                    .with_error_code(TOPIC_DENIED)
                                    .with_error_message(Some(StrBytes::from_static_str(
                                        "The topic authorization is failed.",
                                    ))),
                            );
                        }
                        ResponseKind::CreatePartitions(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::DeleteRecords(r) => {
            narrow(
                request,
                &r.topics,
                |t| a.topic(Op::Delete, t.name.as_str()),
                |kept| RequestKind::DeleteRecords(r.clone().with_topics(kept)),
                move |resp, denied| match resp {
                    ResponseKind::DeleteRecords(mut resp) => {
                        use delete_records_response::*;
                        for t in denied {
                            resp.topics.push(
                                DeleteRecordsTopicResult::default()
                                    .with_name(t.name)
                                    .with_partitions(
                                        t.partitions
                                            .iter()
                                            .map(|p| {
                                                DeleteRecordsPartitionResult::default()
                                                    .with_partition_index(p.partition_index)
                                                    .with_low_watermark(-1)
                                                    .with_error_code(TOPIC_DENIED)
                                            })
                                            .collect(),
                                    ),
                            );
                        }
                        ResponseKind::DeleteRecords(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::DescribeProducers(r) => {
            narrow(
                request,
                &r.topics,
                |t| a.topic(Op::Read, t.name.as_str()),
                |kept| RequestKind::DescribeProducers(r.clone().with_topics(kept)),
                move |resp, denied| match resp {
                    ResponseKind::DescribeProducers(mut resp) => {
                        use describe_producers_response::*;
                        for t in denied {
                            let partitions = t.partition_indexes.iter().map(|&p| {
                                PartitionResponse::default()
                                    .with_partition_index(p)
                                    .with_error_code(TOPIC_DENIED)
                            });
                            resp.topics.push(
                                TopicResponse::default()
                                    .with_name(t.name)
                                    .with_partitions(partitions.collect()),
                            );
                        }
                        ResponseKind::DescribeProducers(resp)
                    }
                    other => other,
                },
            )
        }
        // A replica's CLUSTER_ACTION covers every topic; a consumer needs DESCRIBE on each.
        RequestKind::OffsetForLeaderEpoch(r) if !a.cluster(Op::ClusterAction) => {
            narrow(
                request,
                &r.topics,
                |t| a.topic(Op::Describe, t.topic.as_str()),
                |kept| RequestKind::OffsetForLeaderEpoch(r.clone().with_topics(kept)),
                move |resp, denied| match resp {
                    ResponseKind::OffsetForLeaderEpoch(mut resp) => {
                        use offset_for_leader_epoch_response::*;
                        for t in denied {
                            let partitions = t.partitions.iter().map(|p| {
                                EpochEndOffset::default()
                                    .with_partition(p.partition)
                                    .with_error_code(TOPIC_DENIED)
                                    .with_leader_epoch(-1)
                                    .with_end_offset(-1)
                            });
                            resp.topics.push(
                                OffsetForLeaderTopicResult::default()
                                    .with_topic(t.topic)
                                    .with_partitions(partitions.collect()),
                            );
                        }
                        ResponseKind::OffsetForLeaderEpoch(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::DescribeConfigs(r) => {
            narrow(
                request,
                &r.resources,
                |c| {
                    config_allowed(a, Op::DescribeConfigs, c.resource_type, &c.resource_name)
                },
                |kept| RequestKind::DescribeConfigs(r.clone().with_resources(kept)),
                move |resp, denied| match resp {
                    ResponseKind::DescribeConfigs(mut resp) => {
                        for c in denied {
                            resp.results.push(
                                describe_configs_response::DescribeConfigsResult::default()
                                    .with_error_code(config_denied(c.resource_type))
                                    .with_resource_type(c.resource_type)
                                    .with_resource_name(c.resource_name),
                            );
                        }
                        ResponseKind::DescribeConfigs(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::AlterConfigs(r) => {
            narrow(
                request,
                &r.resources,
                |c| {
                    config_allowed(a, Op::AlterConfigs, c.resource_type, &c.resource_name)
                },
                |kept| RequestKind::AlterConfigs(r.clone().with_resources(kept)),
                move |resp, denied| match resp {
                    ResponseKind::AlterConfigs(mut resp) => {
                        for c in denied {
                            resp.responses.push(
                                alter_configs_response::AlterConfigsResourceResponse::default()
                                    .with_error_code(config_denied(c.resource_type))
                                    .with_resource_type(c.resource_type)
                                    .with_resource_name(c.resource_name),
                            );
                        }
                        ResponseKind::AlterConfigs(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            narrow(
                request,
                &r.resources,
                |c| {
                    config_allowed(a, Op::AlterConfigs, c.resource_type, &c.resource_name)
                },
                |kept| RequestKind::IncrementalAlterConfigs(r.clone().with_resources(kept)),
                move |resp, denied| match resp {
                    ResponseKind::IncrementalAlterConfigs(mut resp) => {
                        use incremental_alter_configs_response::AlterConfigsResourceResponse;
                        for c in denied {
                            resp.responses.push(
                                AlterConfigsResourceResponse::default()
                                    .with_error_code(config_denied(c.resource_type))
                                    .with_resource_type(c.resource_type)
                                    .with_resource_name(c.resource_name),
                            );
                        }
                        ResponseKind::IncrementalAlterConfigs(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::JoinGroup(r) if !a.group(Op::Read, &r.group_id) => Gate::Refuse(
            ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(GROUP_DENIED)
                    .with_generation_id(-1),
            ),
        ),
        RequestKind::SyncGroup(r) if !a.group(Op::Read, &r.group_id) => Gate::Refuse(
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(GROUP_DENIED)),
        ),
        RequestKind::Heartbeat(r) if !a.group(Op::Read, &r.group_id) => Gate::Refuse(
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(GROUP_DENIED)),
        ),
        RequestKind::LeaveGroup(r) if !a.group(Op::Read, &r.group_id) => Gate::Refuse(
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(GROUP_DENIED)),
        ),
        RequestKind::ConsumerGroupHeartbeat(r) if !a.group(Op::Read, &r.group_id) => {
            Gate::Refuse(ResponseKind::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse::default().with_error_code(GROUP_DENIED),
            ))
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            // Kafka 4: one subscribed name the caller may not describe fails the heartbeat;
            // a regex subscription is resolved against what the member may describe.
            let denied = r
                .subscribed_topic_names
                .iter()
                .flatten()
                .any(|t| !a.topic(Op::Describe, t));
            if denied {
                return Gate::Refuse(ResponseKind::ConsumerGroupHeartbeat(
                    ConsumerGroupHeartbeatResponse::default().with_error_code(TOPIC_DENIED),
                ));
            }
            pass
        }
        RequestKind::ConsumerGroupDescribe(r) => consumer_group_describe(a, request, r),
        RequestKind::OffsetDelete(r) => offset_delete(a, request, r),
        RequestKind::OffsetCommit(r) => offset_commit(a, request, r),
        RequestKind::OffsetFetch(r) => offset_fetch(a, request, r, v),
        RequestKind::DescribeGroups(r) => {
            let (kept, denied): (Vec<_>, Vec<_>) = r
                .groups
                .iter()
                .cloned()
                .partition(|g| a.group(Op::Describe, g));
            let include = r.include_authorized_operations;
            let body = RequestKind::DescribeGroups(r.clone().with_groups(kept));
            let access = a.clone();
            Gate::Pass(
                with_body(request, body),
                patch(move |resp| match resp {
                    ResponseKind::DescribeGroups(mut resp) => {
                        for g in &mut resp.groups {
                            if include && g.error_code == 0 {
                                g.authorized_operations =
                                    access.operations(Rt::Group, &g.group_id);
                            }
                        }
                        for g in denied {
                            resp.groups.push(
                                describe_groups_response::DescribedGroup::default()
                                    .with_group_id(g)
                                    .with_error_code(GROUP_DENIED)
                                    .with_authorized_operations(i32::MIN),
                            );
                        }
                        ResponseKind::DescribeGroups(resp)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::ListGroups(_) if !a.cluster(Op::Describe) => {
            let access = a.clone();
            Gate::Pass(
                None,
                patch(move |resp| match resp {
                    ResponseKind::ListGroups(mut resp) => {
                        resp.groups
                            .retain(|g| access.group(Op::Describe, &g.group_id));
                        ResponseKind::ListGroups(resp)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DeleteGroups(r) => {
            narrow(
                request,
                &r.groups_names,
                |g| a.group(Op::Delete, g),
                |kept| RequestKind::DeleteGroups(r.clone().with_groups_names(kept)),
                move |resp, denied| match resp {
                    ResponseKind::DeleteGroups(mut resp) => {
                        for g in denied {
                            resp.results.push(
                                delete_groups_response::DeletableGroupResult::default()
                                    .with_group_id(g)
                                    .with_error_code(GROUP_DENIED),
                            );
                        }
                        ResponseKind::DeleteGroups(resp)
                    }
                    other => other,
                },
            )
        }
        RequestKind::FindCoordinator(r) => find_coordinator(a, r, v),
        RequestKind::InitProducerId(r) => {
            let error = match r.transactional_id.as_ref() {
                Some(id) if !a.txn(id) => TXN_DENIED,
                Some(_) => 0,
                None if !a.idempotent_write() => CLUSTER_DENIED,
                None => 0,
            };
            if error == 0 {
                return pass;
            }
            Gate::Refuse(ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_error_code(error)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ))
        }
        RequestKind::AddPartitionsToTxn(r) => add_partitions_to_txn(a, r, v),
        RequestKind::AddOffsetsToTxn(r) => {
            let error = if !a.txn(&r.transactional_id) {
                TXN_DENIED
            } else if !a.group(Op::Read, &r.group_id) {
                GROUP_DENIED
            } else {
                return pass;
            };
            Gate::Refuse(ResponseKind::AddOffsetsToTxn(
                AddOffsetsToTxnResponse::default().with_error_code(error),
            ))
        }
        RequestKind::EndTxn(r) if !a.txn(&r.transactional_id) => {
            Gate::Refuse(ResponseKind::EndTxn(
                EndTxnResponse::default()
                    .with_error_code(TXN_DENIED)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ))
        }
        RequestKind::TxnOffsetCommit(r) => {
            let error = if !a.txn(&r.transactional_id) {
                TXN_DENIED
            } else if !a.group(Op::Read, &r.group_id) {
                GROUP_DENIED
            } else if r.topics.iter().any(|t| !a.topic(Op::Read, &t.name)) {
                TOPIC_DENIED
            } else {
                return pass;
            };
            Gate::Refuse(super::transactions::txn_offset_commit_failed(r, error))
        }
        RequestKind::DescribeTransactions(r) => {
            let denied: HashSet<String> = r
                .transactional_ids
                .iter()
                .filter(|id| !a.allows(Op::Describe, Rt::TransactionalId, id))
                .map(|id| id.to_string())
                .collect();
            let access = a.clone();
            Gate::Pass(
                None,
                patch(move |resp| match resp {
                    ResponseKind::DescribeTransactions(mut resp) => {
                        for s in &mut resp.transaction_states {
                            if denied.contains(s.transactional_id.as_str()) {
                                *s = describe_transactions_response::TransactionState::default()
                                    .with_transactional_id(s.transactional_id.clone())
                                    .with_error_code(TXN_DENIED)
                                    .with_transaction_state(StrBytes::from_static_str(""));
                            }
                            // The partitions of topics the caller may not describe are left out.
                            s.topics.retain(|t| access.topic(Op::Describe, &t.topic));
                        }
                        ResponseKind::DescribeTransactions(resp)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DescribeTopicPartitions(r) => describe_topic_partitions(broker, a, request, r),
        RequestKind::ListTransactions(_) => {
            let access = a.clone();
            Gate::Pass(
                None,
                patch(move |resp| match resp {
                    ResponseKind::ListTransactions(mut resp) => {
                        resp.transaction_states.retain(|s| {
                            access.allows(Op::Describe, Rt::TransactionalId, &s.transactional_id)
                        });
                        ResponseKind::ListTransactions(resp)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DescribeCluster(r) if r.include_cluster_authorized_operations => {
            let ops = if a.cluster(Op::Describe) {
                a.operations(Rt::Cluster, CLUSTER_NAME)
            } else {
                0
            };
            Gate::Pass(
                None,
                patch(move |resp| match resp {
                    ResponseKind::DescribeCluster(resp) => ResponseKind::DescribeCluster(
                        resp.with_cluster_authorized_operations(ops),
                    ),
                    other => other,
                }),
            )
        }
        RequestKind::DescribeLogDirs(_) => cluster_only(
            Op::Describe,
            ResponseKind::DescribeLogDirs(
                DescribeLogDirsResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::ElectLeaders(_) => cluster_only(
            Op::Alter,
            ResponseKind::ElectLeaders(
                ElectLeadersResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::AlterPartitionReassignments(_) => cluster_only(
            Op::Alter,
            ResponseKind::AlterPartitionReassignments(
                AlterPartitionReassignmentsResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::ListPartitionReassignments(_) => cluster_only(
            Op::Describe,
            ResponseKind::ListPartitionReassignments(
                ListPartitionReassignmentsResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::DescribeUserScramCredentials(_) => cluster_only(
            Op::Describe,
            ResponseKind::DescribeUserScramCredentials(
                DescribeUserScramCredentialsResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::AlterUserScramCredentials(r) => cluster_only(
            Op::Alter,
            ResponseKind::AlterUserScramCredentials(
                AlterUserScramCredentialsResponse::default().with_results(
                    r.deletions
                        .iter()
                        .map(|d| &d.name)
                        .chain(r.upsertions.iter().map(|u| &u.name))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .map(|user| {
                            alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                                .with_user(user.clone())
                                .with_error_code(CLUSTER_DENIED)
                        })
                        .collect(),
                ),
            ),
        ),
        RequestKind::DescribeAcls(_) => cluster_only(
            Op::Describe,
            ResponseKind::DescribeAcls(
                DescribeAclsResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::CreateAcls(r) => cluster_only(
            Op::Alter,
            ResponseKind::CreateAcls(
                CreateAclsResponse::default().with_results(
                    r.creations
                        .iter()
                        .map(|_| {
                            create_acls_response::AclCreationResult::default()
                                .with_error_code(CLUSTER_DENIED)
                        })
                        .collect(),
                ),
            ),
        ),
        RequestKind::DeleteAcls(r) => cluster_only(
            Op::Alter,
            ResponseKind::DeleteAcls(
                DeleteAclsResponse::default().with_filter_results(
                    r.filters
                        .iter()
                        .map(|_| {
                            delete_acls_response::DeleteAclsFilterResult::default()
                                .with_error_code(CLUSTER_DENIED)
                        })
                        .collect(),
                ),
            ),
        ),
        RequestKind::DescribeClientQuotas(_) => cluster_only(
            Op::DescribeConfigs,
            ResponseKind::DescribeClientQuotas(
                DescribeClientQuotasResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        RequestKind::DescribeQuorum(_) => cluster_only(
            Op::Describe,
            ResponseKind::DescribeQuorum(
                DescribeQuorumResponse::default().with_error_code(CLUSTER_DENIED),
            ),
        ),
        _ => pass,
    }
}

/// Config resources by Kafka's `ConfigResource.Type` code: TOPIC 2, GROUP 32, else the cluster.
fn config_allowed(a: &Access, op: Op, resource_type: i8, name: &str) -> bool {
    match resource_type {
        2 => a.topic(op, name),
        32 => a.group(op, name),
        _ => a.cluster(op),
    }
}

fn config_denied(resource_type: i8) -> i16 {
    match resource_type {
        2 => TOPIC_DENIED,
        32 => GROUP_DENIED,
        _ => CLUSTER_DENIED,
    }
}

/// The name of a topic of a request that names topics by id from `by_id_from` on.
fn topic_name_of(
    broker: &Broker,
    version: i16,
    by_id_from: i16,
    name: &str,
    id: uuid::Uuid,
) -> Option<String> {
    if version >= by_id_from {
        broker.topics.by_id(id).map(|m| m.name.clone())
    } else {
        Some(name.to_string())
    }
}

fn produce(broker: &Broker, a: &Access, request: &Request, r: &ProduceRequest, v: i16) -> Gate {
    use produce_response::*;
    let failed = |p: i32, code: i16| {
        PartitionProduceResponse::default()
            .with_index(p)
            .with_error_code(code)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
    };
    let answer = |t: &produce_request::TopicProduceData, code: i16| {
        TopicProduceResponse::default()
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
            .with_partition_responses(
                t.partition_data
                    .iter()
                    .map(|p| failed(p.index, code))
                    .collect(),
            )
    };
    // As Kafka's `RequestUtils.hasTransactionalRecords`: the transactional id is checked only
    // when a batch is transactional (one without an id is the handler's to refuse).
    let transactional = || {
        r.topic_data.iter().any(|t| {
            t.partition_data.iter().any(|p| {
                p.records.as_ref().is_some_and(|records| {
                    gregor_storage::batch::headers(records)
                        .map_while(Result::ok)
                        .any(|(_, h)| h.is_transactional())
                })
            })
        })
    };
    if let Some(id) = r.transactional_id.as_ref() {
        if !a.txn(id) && transactional() {
            return Gate::Refuse(ResponseKind::Produce(
                ProduceResponse::default()
                    .with_responses(r.topic_data.iter().map(|t| answer(t, TXN_DENIED)).collect()),
            ));
        }
    }
    let (kept, denied): (Vec<_>, Vec<_>) = r.topic_data.iter().cloned().partition(|t| {
        // Unknown ids are the handler's to answer.
        topic_name_of(broker, v, 13, &t.name, t.topic_id).is_none_or(|n| a.topic(Op::Write, &n))
    });
    if denied.is_empty() {
        return Gate::Pass(None, None);
    }
    let body = RequestKind::Produce(r.clone().with_topic_data(kept));
    let denied: Vec<_> = denied.iter().map(|t| answer(t, TOPIC_DENIED)).collect();
    Gate::Pass(
        with_body(request, body),
        patch(move |resp| match resp {
            ResponseKind::Produce(mut resp) => {
                resp.responses.extend(denied);
                ResponseKind::Produce(resp)
            }
            other => other,
        }),
    )
}

fn fetch(broker: &Broker, a: &Access, request: &Request, r: &FetchRequest, v: i16) -> Gate {
    use fetch_response::*;
    let (kept, denied): (Vec<_>, Vec<_>) = r.topics.iter().cloned().partition(|t| {
        topic_name_of(broker, v, 13, &t.topic, t.topic_id).is_none_or(|n| a.topic(Op::Read, &n))
    });
    if denied.is_empty() {
        return Gate::Pass(None, None);
    }
    let body = RequestKind::Fetch(r.clone().with_topics(kept));
    let denied: Vec<_> = denied
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(TOPIC_DENIED)
                                .with_high_watermark(-1)
                                .with_last_stable_offset(-1)
                                .with_log_start_offset(-1)
                                .with_records(Some(Default::default()))
                        })
                        .collect(),
                )
        })
        .collect();
    Gate::Pass(
        with_body(request, body),
        patch(move |resp| match resp {
            ResponseKind::Fetch(mut resp) => {
                resp.responses.extend(denied);
                ResponseKind::Fetch(resp)
            }
            other => other,
        }),
    )
}

/// Metadata as Kafka's `handleTopicMetadataRequest`: named topics the caller may not describe,
/// or may not create when they would be auto-created, are answered TOPIC_AUTHORIZATION_FAILED
/// without being looked at; an all-topics request leaves them out.
fn metadata(broker: &Broker, a: &Access, request: &Request, r: &MetadataRequest, v: i16) -> Gate {
    use metadata_response::MetadataResponseTopic;
    let named = match &r.topics {
        Some(t) if !(t.is_empty() && v == 0) => Some(t),
        _ => None,
    };
    let by_id = named.is_some_and(|t| v >= 12 && t.iter().any(|w| !w.topic_id.is_nil()));
    let mut rewritten = None;
    let mut denied_names = Vec::new();
    let mut kept_names: Option<HashSet<String>> = None;
    if let (Some(wanted), false) = (named, by_id) {
        let auto_create = (r.allow_auto_topic_creation || v < 4)
            && broker.config.auto_create_topics
            && !a.cluster(Op::Create);
        let (kept, denied): (Vec<_>, Vec<_>) = wanted.iter().cloned().partition(|w| {
            let name = w.name.as_ref().map_or("", |n| n.as_str());
            a.topic(Op::Describe, name)
                && !(auto_create && broker.topics.get(name).is_none() && !a.topic(Op::Create, name))
        });
        if !denied.is_empty() {
            denied_names = denied.into_iter().filter_map(|w| w.name).collect();
            kept_names = Some(
                kept.iter()
                    .filter_map(|w| w.name.as_ref().map(|n| n.to_string()))
                    .collect(),
            );
            rewritten = with_body(
                request,
                RequestKind::Metadata(r.clone().with_topics(Some(kept))),
            );
        }
    }
    let access = a.clone();
    let include_topic_ops = v >= 8 && r.include_topic_authorized_operations;
    let include_cluster_ops = (8..=10).contains(&v) && r.include_cluster_authorized_operations;
    let all = named.is_none();
    Gate::Pass(
        rewritten,
        patch(move |resp| match resp {
            ResponseKind::Metadata(mut resp) => {
                if let Some(kept) = &kept_names {
                    // v0 reads an emptied list as all topics: keep what was asked for only.
                    resp.topics
                        .retain(|t| t.name.as_ref().is_some_and(|n| kept.contains(n.as_str())));
                }
                let mut topics = Vec::with_capacity(resp.topics.len());
                for mut t in std::mem::take(&mut resp.topics) {
                    let name = t.name.as_ref().map(|n| n.to_string());
                    match name {
                        Some(n) if !access.topic(Op::Describe, &n) => {
                            if !all {
                                // By id: the id is no secret, the name is.
                                topics.push(
                                    MetadataResponseTopic::default()
                                        .with_name(None)
                                        .with_topic_id(t.topic_id)
                                        .with_error_code(TOPIC_DENIED),
                                );
                            }
                        }
                        Some(n) => {
                            if include_topic_ops && t.topic_authorized_operations != i32::MIN {
                                t.topic_authorized_operations = access.operations(Rt::Topic, &n);
                            }
                            topics.push(t);
                        }
                        None => topics.push(t),
                    }
                }
                for n in denied_names {
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_name(Some(n))
                            .with_error_code(TOPIC_DENIED),
                    );
                }
                resp.topics = topics;
                if include_cluster_ops {
                    resp.cluster_authorized_operations = if access.cluster(Op::Describe) {
                        access.operations(Rt::Cluster, CLUSTER_NAME)
                    } else {
                        0
                    };
                }
                ResponseKind::Metadata(resp)
            }
            other => other,
        }),
    )
}

fn offset_commit(a: &Access, request: &Request, r: &OffsetCommitRequest) -> Gate {
    use offset_commit_response::*;
    let answer = |t: &offset_commit_request::OffsetCommitRequestTopic, code: i16| {
        OffsetCommitResponseTopic::default()
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    if !a.group(Op::Read, &r.group_id) {
        return Gate::Refuse(ResponseKind::OffsetCommit(
            OffsetCommitResponse::default()
                .with_topics(r.topics.iter().map(|t| answer(t, GROUP_DENIED)).collect()),
        ));
    }
    let (kept, denied): (Vec<_>, Vec<_>) = r
        .topics
        .iter()
        .cloned()
        .partition(|t| a.topic(Op::Read, &t.name));
    if denied.is_empty() {
        return Gate::Pass(None, None);
    }
    let denied: Vec<_> = denied.iter().map(|t| answer(t, TOPIC_DENIED)).collect();
    if kept.is_empty() {
        return Gate::Refuse(ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(denied),
        ));
    }
    let body = RequestKind::OffsetCommit(r.clone().with_topics(kept));
    Gate::Pass(
        with_body(request, body),
        patch(move |resp| match resp {
            ResponseKind::OffsetCommit(mut resp) => {
                resp.topics.extend(denied);
                ResponseKind::OffsetCommit(resp)
            }
            other => other,
        }),
    )
}

/// OffsetFetch: DESCRIBE on the group; offsets of topics the caller may not describe are
/// answered TOPIC_AUTHORIZATION_FAILED when asked for by name, and left out of an all-topics
/// fetch.
fn offset_fetch(a: &Access, request: &Request, r: &OffsetFetchRequest, v: i16) -> Gate {
    use offset_fetch_response::*;
    if v < 8 {
        if !a.group(Op::Describe, &r.group_id) {
            return Gate::Refuse(ResponseKind::OffsetFetch(
                OffsetFetchResponse::default().with_error_code(GROUP_DENIED),
            ));
        }
        let all = r.topics.is_none();
        let access = a.clone();
        return Gate::Pass(
            None,
            patch(move |resp| match resp {
                ResponseKind::OffsetFetch(mut resp) => {
                    if all {
                        resp.topics.retain(|t| access.topic(Op::Describe, &t.name));
                    }
                    for t in &mut resp.topics {
                        if !access.topic(Op::Describe, &t.name) {
                            for p in &mut t.partitions {
                                *p = OffsetFetchResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_committed_offset(-1)
                                    .with_committed_leader_epoch(-1)
                                    .with_error_code(TOPIC_DENIED);
                            }
                        }
                    }
                    ResponseKind::OffsetFetch(resp)
                }
                other => other,
            }),
        );
    }
    let (kept, denied): (Vec<_>, Vec<_>) = r
        .groups
        .iter()
        .cloned()
        .partition(|g| a.group(Op::Describe, &g.group_id));
    let all_topics: HashSet<String> = kept
        .iter()
        .filter(|g| g.topics.is_none())
        .map(|g| g.group_id.to_string())
        .collect();
    let rewritten = rewrite_if(!denied.is_empty(), request, || {
        RequestKind::OffsetFetch(r.clone().with_groups(kept))
    });
    let access = a.clone();
    Gate::Pass(
        rewritten,
        patch(move |resp| match resp {
            ResponseKind::OffsetFetch(mut resp) => {
                for g in &mut resp.groups {
                    if all_topics.contains(g.group_id.as_str()) {
                        g.topics.retain(|t| access.topic(Op::Describe, &t.name));
                    }
                    for t in &mut g.topics {
                        if !access.topic(Op::Describe, &t.name) {
                            for p in &mut t.partitions {
                                *p = OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p.partition_index)
                                    .with_committed_offset(-1)
                                    .with_committed_leader_epoch(-1)
                                    .with_error_code(TOPIC_DENIED);
                            }
                        }
                    }
                }
                for g in denied {
                    resp.groups.push(
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id)
                            .with_error_code(GROUP_DENIED),
                    );
                }
                ResponseKind::OffsetFetch(resp)
            }
            other => other,
        }),
    )
}

/// FindCoordinator: DESCRIBE on the group (key type 0) or the transactional id (1).
fn find_coordinator(a: &Access, r: &FindCoordinatorRequest, v: i16) -> Gate {
    let (rt, code) = match r.key_type {
        0 => (Rt::Group, GROUP_DENIED),
        1 => (Rt::TransactionalId, TXN_DENIED),
        _ => return Gate::Pass(None, None),
    };
    if v < 4 {
        if a.allows(Op::Describe, rt, &r.key) {
            return Gate::Pass(None, None);
        }
        return Gate::Refuse(ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default()
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::from_static_str(""))
                .with_port(-1),
        ));
    }
    let access = a.clone();
    Gate::Pass(
        None,
        patch(move |resp| match resp {
            ResponseKind::FindCoordinator(mut resp) => {
                for c in &mut resp.coordinators {
                    if !access.allows(Op::Describe, rt, &c.key) {
                        *c = find_coordinator_response::Coordinator::default()
                            .with_key(c.key.clone())
                            .with_node_id(BrokerId(-1))
                            .with_host(StrBytes::from_static_str(""))
                            .with_port(-1)
                            .with_error_code(code);
                    }
                }
                ResponseKind::FindCoordinator(resp)
            }
            other => other,
        }),
    )
}

/// AddPartitionsToTxn from a client (v0-3): WRITE on the transactional id, then on each
/// topic; when a topic is denied nothing is added and the rest are OPERATION_NOT_ATTEMPTED.
/// From v4 it is a broker's request: CLUSTER_ACTION.
fn add_partitions_to_txn(a: &Access, r: &AddPartitionsToTxnRequest, v: i16) -> Gate {
    use add_partitions_to_txn_response::*;
    if v >= 4 {
        if a.cluster(Op::ClusterAction) {
            return Gate::Pass(None, None);
        }
        return Gate::Refuse(ResponseKind::AddPartitionsToTxn(
            AddPartitionsToTxnResponse::default().with_error_code(CLUSTER_DENIED),
        ));
    }
    let txn_ok = a.txn(&r.v3_and_below_transactional_id);
    let denied: HashSet<String> = r
        .v3_and_below_topics
        .iter()
        .filter(|t| !a.topic(Op::Write, &t.name))
        .map(|t| t.name.to_string())
        .collect();
    if txn_ok && denied.is_empty() {
        return Gate::Pass(None, None);
    }
    let results = r
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let code = if !txn_ok {
                TXN_DENIED
            } else if denied.contains(t.name.as_str()) {
                TOPIC_DENIED
            } else {
                ResponseError::OperationNotAttempted.code()
            };
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    Gate::Refuse(ResponseKind::AddPartitionsToTxn(
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
    ))
}

/// CreateTopics as Kafka's controller (`ControllerApis.createTopics`): CREATE on the cluster or
/// on each topic; a created topic's configs, partition count and replication factor are
/// answered only with DESCRIBE_CONFIGS on it, else its `topic_config_error_code` is
/// TOPIC_AUTHORIZATION_FAILED.
fn create_topics(a: &Access, request: &Request, r: &CreateTopicsRequest) -> Gate {
    use create_topics_response::CreatableTopicResult;
    let cluster_create = a.cluster(Op::Create);
    let (kept, denied): (Vec<_>, Vec<_>) = r
        .topics
        .iter()
        .cloned()
        .partition(|t| cluster_create || a.topic(Op::Create, t.name.as_str()));
    let hidden: HashSet<String> = kept
        .iter()
        .filter(|t| !a.topic(Op::DescribeConfigs, t.name.as_str()))
        .map(|t| t.name.to_string())
        .collect();
    if denied.is_empty() && hidden.is_empty() {
        return Gate::Pass(None, None);
    }
    let rewritten = rewrite_if(!denied.is_empty(), request, || {
        RequestKind::CreateTopics(r.clone().with_topics(kept))
    });
    Gate::Pass(
        rewritten,
        patch(move |resp| match resp {
            ResponseKind::CreateTopics(mut resp) => {
                for t in &mut resp.topics {
                    if t.error_code == 0 && hidden.contains(t.name.as_str()) {
                        t.configs = t.configs.as_ref().map(|_| Vec::new());
                        t.num_partitions = -1;
                        t.replication_factor = -1;
                        t.topic_config_error_code = TOPIC_DENIED;
                    }
                }
                for t in denied {
                    resp.topics.push(
                        CreatableTopicResult::default()
                            .with_name(t.name)
                            .with_error_code(TOPIC_DENIED)
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Authorization failed.",
                            )))
                            .with_num_partitions(-1)
                            .with_replication_factor(-1),
                    );
                }
                ResponseKind::CreateTopics(resp)
            }
            other => other,
        }),
    )
}

/// OffsetDelete as Kafka's `handleOffsetDeleteRequest`: DELETE on the group, then READ on each
/// topic; the partitions of a topic the caller may not read are answered
/// TOPIC_AUTHORIZATION_FAILED and the rest go to the coordinator (even none, for its group
/// errors).
fn offset_delete(a: &Access, request: &Request, r: &OffsetDeleteRequest) -> Gate {
    use offset_delete_response::*;
    if !a.group(Op::Delete, &r.group_id) {
        return Gate::Refuse(ResponseKind::OffsetDelete(
            OffsetDeleteResponse::default().with_error_code(GROUP_DENIED),
        ));
    }
    narrow(
        request,
        &r.topics,
        |t| a.topic(Op::Read, t.name.as_str()),
        |kept| RequestKind::OffsetDelete(r.clone().with_topics(kept)),
        move |resp, denied| match resp {
            // A group-level error answers the whole request, as Kafka's does.
            ResponseKind::OffsetDelete(mut resp) if resp.error_code == 0 => {
                for t in denied {
                    resp.topics.push(
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetDeleteResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(TOPIC_DENIED)
                                    })
                                    .collect(),
                            ),
                    );
                }
                ResponseKind::OffsetDelete(resp)
            }
            other => other,
        },
    )
}

/// ConsumerGroupDescribe as Kafka 4's `handleConsumerGroupDescribe`: DESCRIBE on each group
/// (GROUP_AUTHORIZATION_FAILED first in the answer); a described group whose members' current
/// or target assignments hold a topic the caller may not describe is answered
/// TOPIC_AUTHORIZATION_FAILED without its members.
fn consumer_group_describe(
    a: &Access,
    request: &Request,
    r: &ConsumerGroupDescribeRequest,
) -> Gate {
    use consumer_group_describe_response::DescribedGroup;
    let (kept, denied): (Vec<_>, Vec<_>) = r
        .group_ids
        .iter()
        .cloned()
        .partition(|g| a.group(Op::Describe, g));
    let include = r.include_authorized_operations;
    let rewritten = rewrite_if(!denied.is_empty(), request, || {
        RequestKind::ConsumerGroupDescribe(r.clone().with_group_ids(kept))
    });
    let access = a.clone();
    Gate::Pass(
        rewritten,
        patch(move |resp| match resp {
            ResponseKind::ConsumerGroupDescribe(mut resp) => {
                let mut groups: Vec<DescribedGroup> = denied
                    .into_iter()
                    .map(|g| {
                        DescribedGroup::default()
                            .with_group_id(g)
                            .with_error_code(GROUP_DENIED)
                    })
                    .collect();
                for mut g in std::mem::take(&mut resp.groups) {
                    if include && g.error_code == 0 {
                        g.authorized_operations = access.operations(Rt::Group, &g.group_id);
                    }
                    let hidden = g
                        .members
                        .iter()
                        .flat_map(|m| [&m.assignment, &m.target_assignment])
                        .flat_map(|a| &a.topic_partitions)
                        .any(|tp| !access.topic(Op::Describe, &tp.topic_name));
                    if hidden {
                        g = DescribedGroup::default()
                            .with_group_id(g.group_id)
                            .with_error_code(TOPIC_DENIED)
                            .with_error_message(Some(StrBytes::from_static_str(
                                "The group has described topic(s) that the client is not \
                                 authorized to describe.",
                            )));
                    }
                    groups.push(g);
                }
                resp.groups = groups;
                ResponseKind::ConsumerGroupDescribe(resp)
            }
            other => other,
        }),
    )
}

/// DescribeTopicPartitions as Kafka's `DescribeTopicPartitionsRequestHandler`: topics the caller
/// may not describe are taken out before the answer is paged (they take no room and no cursor
/// points at them); named ones are answered TOPIC_AUTHORIZATION_FAILED after the rest, with no
/// topic id, and an all-topics request leaves them out. Every other topic carries the caller's
/// authorized operations.
fn describe_topic_partitions(
    broker: &Broker,
    a: &Access,
    request: &Request,
    r: &DescribeTopicPartitionsRequest,
) -> Gate {
    use describe_topic_partitions_request::TopicRequest;
    let fetch_all = r.topics.is_empty();
    let cursor = r.cursor.as_ref();
    // A bad cursor is refused before any ACL is looked at: the handler answers it.
    let bad_cursor = cursor.is_some_and(|c| {
        c.partition_index < 0 || (!fetch_all && !r.topics.iter().any(|t| t.name == c.topic_name))
    });
    if bad_cursor {
        return Gate::Pass(None, None);
    }
    let from = cursor.map_or("", |c| c.topic_name.as_str());
    let candidates: std::collections::BTreeSet<String> = if fetch_all {
        broker.topics.all().into_iter().map(|t| t.name).collect()
    } else {
        r.topics.iter().map(|t| t.name.to_string()).collect()
    };
    let (kept, hidden): (Vec<String>, Vec<String>) = candidates
        .into_iter()
        .filter(|n| n.as_str() >= from)
        .partition(|n| a.topic(Op::Describe, n));
    let denied: Vec<String> = if fetch_all {
        Vec::new()
    } else {
        hidden.clone()
    };
    let mut rewritten = None;
    if !hidden.is_empty() {
        if kept.is_empty() {
            let topics = denied.into_iter().map(denied_topic_partitions).collect();
            return Gate::Refuse(ResponseKind::DescribeTopicPartitions(
                DescribeTopicPartitionsResponse::default().with_topics(topics),
            ));
        }
        // The kept topics, named, page as the whole list would; a cursor on a hidden topic
        // only says where to start, which the list now does.
        let cursor = r
            .cursor
            .clone()
            .filter(|c| kept.iter().any(|n| n == c.topic_name.as_str()));
        let topics = kept
            .iter()
            .map(|n| TopicRequest::default().with_name(topic_name(n)))
            .collect();
        rewritten = with_body(
            request,
            RequestKind::DescribeTopicPartitions(r.clone().with_topics(topics).with_cursor(cursor)),
        );
    }
    let access = a.clone();
    Gate::Pass(
        rewritten,
        patch(move |resp| match resp {
            ResponseKind::DescribeTopicPartitions(mut resp) => {
                if fetch_all {
                    // Deleted since the gate listed it: an all-topics answer leaves it out.
                    resp.topics
                        .retain(|t| t.error_code != ResponseError::UnknownTopicOrPartition.code());
                }
                for t in &mut resp.topics {
                    if let Some(n) = &t.name {
                        t.topic_authorized_operations = access.operations(Rt::Topic, n);
                    }
                }
                resp.topics
                    .extend(denied.into_iter().map(denied_topic_partitions));
                ResponseKind::DescribeTopicPartitions(resp)
            }
            other => other,
        }),
    )
}

/// A named topic of DescribeTopicPartitions the caller may not describe: its name, no id.
fn denied_topic_partitions(
    name: String,
) -> describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic {
    describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(TOPIC_DENIED)
        .with_name(Some(topic_name(&name)))
        .with_topic_authorized_operations(i32::MIN)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}
