//! A Stable classic group survives a broker restart, after SIGTERM and after kill -9, as it
//! does with Apache Kafka: the group's metadata (members, generation, assignment) is in
//! `__consumer_offsets`, so after the restart the same member's heartbeats at the same
//! generation keep succeeding, no rebalance happens, and DescribeGroups shows the group Stable
//! with the member's assignment.

use bytes::Bytes;
use gregor_itests::raw::messages::describe_groups_request::DescribeGroupsRequest;
use gregor_itests::raw::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_itests::raw::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_itests::raw::messages::{
    ApiKey, DescribeGroupsResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const MEMBER_ID_REQUIRED: i16 = 79;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join(client: &mut RawClient, member_id: &str) -> anyhow::Result<JoinGroupResponse> {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s("survivors")))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"subscription"))]);
    client.call(ApiKey::JoinGroup, 9, &request)
}

fn heartbeat(client: &mut RawClient, member_id: &str, generation: i32) -> anyhow::Result<i16> {
    let response: HeartbeatResponse = client.call(
        ApiKey::Heartbeat,
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("survivors")))
            .with_member_id(s(member_id))
            .with_generation_id(generation),
    )?;
    Ok(response.error_code)
}

/// (state, generation-carrying member ids, the member's assignment) as DescribeGroups says.
fn describe(client: &mut RawClient) -> anyhow::Result<(String, Vec<String>, Bytes)> {
    let response: DescribeGroupsResponse = client.call(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("survivors"))]),
    )?;
    let group = &response.groups[0];
    let members = group
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    let assignment = group
        .members
        .first()
        .map(|m| m.member_assignment.clone())
        .unwrap_or_default();
    Ok((group.group_state.to_string(), members, assignment))
}

#[test]
fn a_stable_group_survives_sigterm_and_kill9_restarts() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let first = join(&mut client, "")?;
    anyhow::ensure!(first.error_code == MEMBER_ID_REQUIRED, "{first:?}");
    let member = first.member_id.to_string();
    let joined = join(&mut client, &member)?;
    anyhow::ensure!(
        joined.error_code == 0 && joined.leader == joined.member_id,
        "{joined:?}"
    );
    let generation = joined.generation_id;
    let synced: SyncGroupResponse = client.call(
        ApiKey::SyncGroup,
        5,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s("survivors")))
            .with_generation_id(generation)
            .with_member_id(s(&member))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"partitions 0-2"))]),
    )?;
    anyhow::ensure!(synced.error_code == 0, "{synced:?}");
    anyhow::ensure!(heartbeat(&mut client, &member, generation)? == 0);

    for (how, restart) in [
        (
            "SIGTERM",
            TestBroker::stop as fn(&mut TestBroker) -> anyhow::Result<()>,
        ),
        ("kill -9", TestBroker::kill9),
    ] {
        restart(&mut broker)?;
        broker.restart()?;
        let mut client = RawClient::connect(&broker.bootstrap())?;
        let code = heartbeat(&mut client, &member, generation)?;
        anyhow::ensure!(
            code == 0,
            "after a {how} restart the member's heartbeat at generation {generation} got {code}"
        );
        let (state, members, assignment) = describe(&mut client)?;
        anyhow::ensure!(
            state == "Stable"
                && members == [member.clone()]
                && &assignment[..] == b"partitions 0-2",
            "after a {how} restart: {state} {members:?} {assignment:?}"
        );
    }
    Ok(())
}
