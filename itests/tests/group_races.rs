//! Classic-group edge cases that real clients hit only by timing, driven step by step on raw
//! sockets so they happen every run: a second member finishing its join while the first
//! generation forms, and an offset commit while a rebalance is being prepared (Apache Kafka
//! accepts it; refusing it makes consumers re-read records they had processed).

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_itests::raw::messages::{
    ApiKey, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const JOIN_VERSION: i16 = 5;
const MEMBER_ID_REQUIRED: i16 = 79;
const REBALANCE_IN_PROGRESS: i16 = 27;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn join_request(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(s(group).into())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range")),
            JoinGroupRequestProtocol::default().with_name(s("roundrobin")),
        ])
}

/// The first JoinGroup of a v4+ member: MEMBER_ID_REQUIRED with the id to join with.
fn member_id(client: &mut RawClient, group: &str) -> anyhow::Result<String> {
    let response: JoinGroupResponse =
        client.call(ApiKey::JoinGroup, JOIN_VERSION, &join_request(group, ""))?;
    anyhow::ensure!(
        response.error_code == MEMBER_ID_REQUIRED,
        "first join: error {}",
        response.error_code
    );
    Ok(response.member_id.to_string())
}

#[test]
fn second_member_joins_while_the_first_generation_forms() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let mut a = RawClient::connect(&b)?;
    let mut c = RawClient::connect(&b)?;
    let id_a = member_id(&mut a, "race")?;
    let id_c = member_id(&mut c, "race")?;
    // c joins with its id first: the group waits for a, whose id is outstanding.
    let frame = c.frame(
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request("race", &id_c),
    )?;
    c.send_bytes(&frame)?;
    // a joins with its id: same protocol type and protocols, so it must be let in, and the
    // generation completes with both.
    let joined_a: JoinGroupResponse = a.call(
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request("race", &id_a),
    )?;
    let joined_c: JoinGroupResponse = c.read_response(ApiKey::JoinGroup, JOIN_VERSION)?;
    assert_eq!(
        (joined_a.error_code, joined_c.error_code),
        (0, 0),
        "join errors (23 is INCONSISTENT_GROUP_PROTOCOL)"
    );
    assert_eq!(joined_a.generation_id, joined_c.generation_id);
    let leader = if joined_a.member_id == joined_a.leader {
        &joined_a
    } else {
        &joined_c
    };
    assert_eq!(leader.members.len(), 2, "the leader sees both members");
    Ok(())
}

#[test]
fn commits_are_accepted_while_a_rebalance_is_prepared() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    // Commits to a topic that does not exist are refused (as in Kafka): the group's topic is
    // real.
    tokio::runtime::Runtime::new()?.block_on(create_topic(&b, "orders", 1))?;
    let mut a = RawClient::connect(&b)?;
    let id_a = member_id(&mut a, "committers")?;
    let joined: JoinGroupResponse = a.call(
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request("committers", &id_a),
    )?;
    assert_eq!(joined.error_code, 0);
    let generation = joined.generation_id;
    let synced: SyncGroupResponse = a.call(
        ApiKey::SyncGroup,
        3,
        &SyncGroupRequest::default()
            .with_group_id(s("committers").into())
            .with_generation_id(generation)
            .with_member_id(s(&id_a))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&id_a))
                .with_assignment(bytes::Bytes::from_static(b"\0"))]),
    )?;
    assert_eq!(synced.error_code, 0, "group is stable");

    // A second member joins: the group prepares a rebalance and waits for a to rejoin.
    let mut c = RawClient::connect(&b)?;
    let id_c = member_id(&mut c, "committers")?;
    let frame = c.frame(
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request("committers", &id_c),
    )?;
    c.send_bytes(&frame)?;
    // Heartbeats tell a when the rebalance has begun (c's join is on another connection).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let beat: HeartbeatResponse = a.call(
            ApiKey::Heartbeat,
            3,
            &HeartbeatRequest::default()
                .with_group_id(s("committers").into())
                .with_generation_id(generation)
                .with_member_id(s(&id_a)),
        )?;
        if beat.error_code == REBALANCE_IN_PROGRESS {
            break;
        }
        anyhow::ensure!(beat.error_code == 0, "heartbeat error {}", beat.error_code);
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no rebalance 10 s after a second member joined"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // a, still in the current generation, commits what it processed before rejoining.
    let committed: OffsetCommitResponse = a.call(
        ApiKey::OffsetCommit,
        7,
        &OffsetCommitRequest::default()
            .with_group_id(s("committers").into())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(&id_a))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(s("orders").into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)])]),
    )?;
    let code = committed.topics[0].partitions[0].error_code;
    assert_eq!(
        code, 0,
        "commit during PreparingRebalance (27 is REBALANCE_IN_PROGRESS; Kafka accepts it)"
    );
    Ok(())
}
