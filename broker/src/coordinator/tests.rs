//! Coordinator state-machine tests with a virtual clock: joins, syncs, heartbeats, expiry,
//! leaves, static members and offset commits, with the error codes Kafka returns.

use bytes::Bytes;
use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_protocol::messages::{
    GroupId, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use gregor_protocol::{ResponseError, StrBytes};

use super::classic_group::GroupState;
use super::group_coordinator::{CoordinatorConfig, GroupCoordinator, Reply, Response};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join_req(member: &str, instance: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"))])
}

fn joins(replies: &[Reply]) -> Vec<(u64, JoinGroupResponse)> {
    replies
        .iter()
        .filter_map(|r| match &r.response {
            Response::Join(j) => Some((r.id, j.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(replies: &[Reply]) -> Vec<(u64, SyncGroupResponse)> {
    replies
        .iter()
        .filter_map(|r| match &r.response {
            Response::Sync(j) => Some((r.id, j.clone())),
            _ => None,
        })
        .collect()
}

fn coordinator() -> GroupCoordinator {
    GroupCoordinator::new(CoordinatorConfig {
        min_session_timeout_ms: 1000,
        ..CoordinatorConfig::default()
    })
}

/// Joins a new member the v4+ way (MEMBER_ID_REQUIRED first); returns its id and the replies
/// of the second join.
fn join_new(c: &mut GroupCoordinator, now: i64, reply_id: u64) -> (String, Vec<Reply>) {
    let first = c.join_group(
        now,
        reply_id,
        9,
        &join_req("", None),
        "client",
        "/127.0.0.1",
    );
    let (_, r) = &joins(&first)[0];
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    let id = r.member_id.to_string();
    let second = c.join_group(
        now,
        reply_id + 1000,
        9,
        &join_req(&id, None),
        "client",
        "/127.0.0.1",
    );
    (id, second)
}

fn sync(
    c: &mut GroupCoordinator,
    reply_id: u64,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> Vec<Reply> {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::from(a.to_string()))
                })
                .collect(),
        );
    sync_request(c, reply_id, &req, true)
}

/// A SyncGroup as the runtime runs it: the leader's assignment is "written" (or the write
/// fails), then completed.
fn sync_request(
    c: &mut GroupCoordinator,
    reply_id: u64,
    req: &SyncGroupRequest,
    written: bool,
) -> Vec<Reply> {
    let (mut replies, pending) = c.sync_group(reply_id, req);
    if let Some(pending) = pending {
        replies.extend(c.complete_sync(
            0,
            pending,
            written,
            ResponseError::CoordinatorNotAvailable,
        ));
    }
    replies
}

#[test]
fn single_member_joins_syncs_and_heartbeats() {
    let mut c = coordinator();
    let (a, replies) = join_new(&mut c, 0, 1);
    let j = joins(&replies);
    assert_eq!(j.len(), 1);
    assert_eq!(
        (
            j[0].1.error_code,
            j[0].1.generation_id,
            j[0].1.leader.as_str()
        ),
        (0, 1, a.as_str())
    );
    assert_eq!(j[0].1.members.len(), 1, "the leader sees every member");
    assert_eq!(c.groups["g"].state, GroupState::CompletingRebalance);
    let s = syncs(&sync(&mut c, 2, &a, 1, &[(&a, "p0,p1")]));
    assert_eq!(s[0].1.assignment, Bytes::from("p0,p1"));
    assert_eq!(c.groups["g"].state, GroupState::Stable);
    assert_eq!(c.heartbeat(100, "g", &a, None, 1), Ok(()));
    assert_eq!(
        c.heartbeat(100, "g", &a, None, 0),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.heartbeat(100, "g", "nobody", None, 1),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.heartbeat(100, "other", &a, None, 1),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn second_member_triggers_rebalance_and_follower_waits_for_leader() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    sync(&mut c, 2, &a, 1, &[(&a, "all")]);
    // B joins: the group prepares a rebalance and parks B until A rejoins.
    let (b, replies) = join_new(&mut c, 10, 3);
    assert!(joins(&replies).is_empty());
    assert_eq!(c.groups["g"].state, GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat(20, "g", &a, None, 1),
        Err(ResponseError::RebalanceInProgress)
    );
    let replies = c.join_group(30, 5, 9, &join_req(&a, None), "client", "/h");
    let j = joins(&replies);
    assert_eq!(j.len(), 2, "both joins answered together");
    assert!(j.iter().all(|(_, r)| r.generation_id == 2));
    let leader = j.iter().find(|(_, r)| r.member_id.as_str() == a).unwrap();
    let follower = j.iter().find(|(_, r)| r.member_id.as_str() == b).unwrap();
    assert_eq!(leader.1.members.len(), 2);
    assert!(
        follower.1.members.is_empty(),
        "followers get no member list"
    );
    // The follower's SyncGroup waits; the leader's answers both.
    assert!(sync(&mut c, 6, &b, 2, &[]).is_empty());
    let s = syncs(&sync(&mut c, 7, &a, 2, &[(&a, "p0"), (&b, "p1")]));
    assert_eq!(s.len(), 2);
    assert_eq!(
        s.iter().find(|(id, _)| *id == 6).unwrap().1.assignment,
        Bytes::from("p1")
    );
    assert_eq!(
        syncs(&sync(&mut c, 8, &a, 1, &[]))[0].1.error_code,
        ResponseError::IllegalGeneration.code()
    );
}

#[test]
fn expired_member_is_removed_and_the_rest_rebalance() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    let (b, _) = join_new(&mut c, 0, 2);
    let j = joins(&c.join_group(0, 9, 9, &join_req(&a, None), "c", "/h"));
    assert!(!j.is_empty() || c.groups["g"].generation >= 1);
    let generation = c.groups["g"].generation;
    let leader = c.groups["g"].leader.clone().unwrap();
    sync(&mut c, 10, &leader, generation, &[(&a, "x"), (&b, "y")]);
    let other = if leader == a { b.clone() } else { a.clone() };
    sync(&mut c, 11, &other, generation, &[]);
    assert_eq!(c.groups["g"].state, GroupState::Stable);
    // Only A heartbeats; B's 10 s session runs out.
    assert_eq!(c.heartbeat(9_000, "g", &a, None, generation), Ok(()));
    assert!(c.next_deadline().unwrap() <= 10_000);
    c.tick(10_001);
    assert!(!c.groups["g"].members.contains_key(&b));
    assert_eq!(c.groups["g"].state, GroupState::PreparingRebalance);
    let j = joins(&c.join_group(10_002, 12, 9, &join_req(&a, None), "c", "/h"));
    assert_eq!(j[0].1.generation_id, generation + 1);
    assert_eq!(j[0].1.leader.as_str(), a);
}

#[test]
fn member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    sync(&mut c, 2, &a, 1, &[]);
    let (_b, replies) = join_new(&mut c, 0, 3);
    assert!(joins(&replies).is_empty());
    // A keeps heartbeating but never rejoins; after the 30 s rebalance timeout B goes on alone.
    for t in (1_000..30_000).step_by(3_000) {
        assert_eq!(
            c.heartbeat(t, "g", &a, None, 1),
            Err(ResponseError::RebalanceInProgress)
        );
        assert!(joins(&c.tick(t)).is_empty());
    }
    let j = joins(&c.tick(30_000));
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].1.generation_id, 2);
    assert!(!c.groups["g"].members.contains_key(&a));
}

#[test]
fn leave_group_rebalances_and_empty_group_goes_empty() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    sync(&mut c, 2, &a, 1, &[]);
    let (top, codes, _) = c.leave_group(5, "g", &[(a.clone(), None)]);
    assert_eq!((top, codes), (None, vec![None]));
    assert_eq!(c.groups["g"].state, GroupState::Empty);
    let (top, _, _) = c.leave_group(5, "g", &[(a.clone(), None)]);
    assert_eq!(top, Some(ResponseError::UnknownMemberId));
}

#[test]
fn static_member_rejoin_gets_assignment_back_without_rebalance() {
    let mut c = coordinator();
    let first = joins(&c.join_group(0, 1, 9, &join_req("", Some("i1")), "c", "/h"));
    let a = first[0].1.member_id.to_string();
    assert_eq!(
        first[0].1.error_code, 0,
        "static members skip MEMBER_ID_REQUIRED"
    );
    sync(&mut c, 2, &a, 1, &[(&a, "mine")]);
    // Restarted process: same instance id, no member id.
    let again = joins(&c.join_group(50, 3, 9, &join_req("", Some("i1")), "c", "/h"));
    let a2 = again[0].1.member_id.to_string();
    assert_ne!(a, a2);
    assert_eq!(again[0].1.generation_id, 1, "no rebalance");
    assert_eq!(c.groups["g"].state, GroupState::Stable);
    assert_eq!(
        syncs(&sync(&mut c, 4, &a2, 1, &[]))[0].1.assignment,
        Bytes::from("mine")
    );
    // The old incarnation is fenced.
    assert_eq!(
        c.heartbeat(60, "g", &a, Some("i1"), 1),
        Err(ResponseError::FencedInstanceId)
    );
}

#[test]
fn join_errors() {
    let mut c = coordinator();
    let bad_session = join_req("", None).with_session_timeout_ms(10);
    assert_eq!(
        joins(&c.join_group(0, 1, 9, &bad_session, "c", "/h"))[0]
            .1
            .error_code,
        ResponseError::InvalidSessionTimeout.code()
    );
    let no_group = join_req("", None).with_group_id(GroupId(s("")));
    assert_eq!(
        joins(&c.join_group(0, 2, 9, &no_group, "c", "/h"))[0]
            .1
            .error_code,
        ResponseError::InvalidGroupId.code()
    );
    assert_eq!(
        joins(&c.join_group(0, 3, 9, &join_req("ghost", None), "c", "/h"))[0]
            .1
            .error_code,
        ResponseError::UnknownMemberId.code()
    );
    let (_a, _) = join_new(&mut c, 0, 4);
    let other = join_req("", None).with_protocols(vec![
        JoinGroupRequestProtocol::default().with_name(s("roundrobin"))
    ]);
    assert_eq!(
        joins(&c.join_group(0, 5, 9, &other, "c", "/h"))[0]
            .1
            .error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
}

#[test]
fn offset_commits_follow_generation_rules() {
    let mut c = coordinator();
    let commit = |member: &str, generation: i32| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(member))
            .with_generation_id_or_member_epoch(generation)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)])])
    };
    // Admin commit to an unknown group creates it, empty, once written.
    let (r, changes) = c.commit_offsets(0, 9, &commit("", -1));
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(changes.len(), 1);
    assert!(
        !c.groups.contains_key("g"),
        "nothing changes before the write"
    );
    c.apply(changes);
    assert_eq!(c.groups["g"].state, GroupState::Empty);
    let (a, _) = join_new(&mut c, 0, 1);
    let (r, _) = c.commit_offsets(0, 9, &commit(&a, 1));
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::RebalanceInProgress.code()
    );
    sync(&mut c, 2, &a, 1, &[]);
    let (r, changes) = c.commit_offsets(0, 9, &commit(&a, 1));
    assert_eq!(
        (r.topics[0].partitions[0].error_code, changes.len()),
        (0, 1)
    );
    let (r, _) = c.commit_offsets(0, 9, &commit(&a, 7));
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::IllegalGeneration.code()
    );
    let (r, _) = c.commit_offsets(0, 9, &commit("", -1));
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::UnknownMemberId.code(),
        "no admin commits to an active group"
    );
}

#[test]
fn sync_errors() {
    let mut c = coordinator();
    assert_eq!(
        syncs(&sync(&mut c, 1, "x", 1, &[]))[0].1.error_code,
        ResponseError::UnknownMemberId.code(),
        "unknown group"
    );
    let (a, _) = join_new(&mut c, 0, 2);
    assert_eq!(
        syncs(&sync(&mut c, 3, "x", 1, &[]))[0].1.error_code,
        ResponseError::UnknownMemberId.code()
    );
    let wrong_protocol = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s(&a))
        .with_protocol_type(Some(s("connect")));
    assert_eq!(
        syncs(&c.sync_group(4, &wrong_protocol).0)[0].1.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
    sync(&mut c, 5, &a, 1, &[]);
    // A new member puts the group into PreparingRebalance: syncs are refused until it settles.
    join_new(&mut c, 0, 6);
    assert_eq!(
        syncs(&sync(&mut c, 7, &a, 1, &[]))[0].1.error_code,
        ResponseError::RebalanceInProgress.code()
    );
}

#[test]
fn a_rebalance_interrupting_completing_rebalance_bounces_parked_syncs() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    // Two members, so the follower's SyncGroup has to wait for the leader's.
    sync(&mut c, 2, &a, 1, &[]);
    let (b, _) = join_new(&mut c, 0, 3);
    let replies = c.join_group(0, 4, 9, &join_req(&a, None), "c", "/h");
    let generation = joins(&replies)[0].1.generation_id;
    let follower = if c.groups["g"].leader.as_deref() == Some(a.as_str()) {
        b.clone()
    } else {
        a.clone()
    };
    assert!(
        sync(&mut c, 5, &follower, generation, &[]).is_empty(),
        "follower waits"
    );
    // A third member arrives before the leader syncs: the parked sync is told to rejoin.
    let first = c.join_group(0, 6, 9, &join_req("", None), "c", "/h");
    let c_id = joins(&first)[0].1.member_id.to_string();
    let bounced = c.join_group(0, 7, 9, &join_req(&c_id, None), "c", "/h");
    let s = syncs(&bounced);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].0, s[0].1.error_code),
        (5, ResponseError::RebalanceInProgress.code())
    );
}

#[test]
fn pending_member_id_expires_and_group_size_is_capped() {
    let mut c = GroupCoordinator::new(CoordinatorConfig {
        min_session_timeout_ms: 1000,
        max_group_size: 1,
        ..CoordinatorConfig::default()
    });
    let first = joins(&c.join_group(0, 1, 9, &join_req("", None), "c", "/h"));
    let pending = first[0].1.member_id.to_string();
    assert_eq!(
        first[0].1.error_code,
        ResponseError::MemberIdRequired.code()
    );
    let full = joins(&c.join_group(0, 2, 9, &join_req("", None), "c", "/h"));
    assert_eq!(
        full[0].1.error_code,
        ResponseError::GroupMaxSizeReached.code()
    );
    // The handed-out id lapses after the session timeout if the client never comes back.
    c.tick(10_001);
    assert_eq!(
        joins(&c.join_group(10_002, 3, 9, &join_req(&pending, None), "c", "/h"))[0]
            .1
            .error_code,
        ResponseError::UnknownMemberId.code()
    );
}

#[test]
fn static_members_are_fenced_on_sync_and_leave_by_instance_id() {
    let mut c = coordinator();
    let a = joins(&c.join_group(0, 1, 9, &join_req("", Some("i1")), "c", "/h"))[0]
        .1
        .member_id
        .to_string();
    sync(&mut c, 2, &a, 1, &[]);
    let fenced = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s("old-id"))
        .with_group_instance_id(Some(s("i1")));
    // "old-id" is not a member at all, which Kafka reports first.
    assert_eq!(
        syncs(&c.sync_group(3, &fenced).0)[0].1.error_code,
        ResponseError::UnknownMemberId.code()
    );
    let (_, codes, _) = c.leave_group(0, "g", &[("".to_string(), Some("i1".to_string()))]);
    assert_eq!(codes, vec![None], "leave by instance id alone");
    assert_eq!(c.groups["g"].state, GroupState::Empty);
}

#[test]
fn delete_groups_and_offsets_need_an_empty_group() {
    use gregor_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use gregor_protocol::messages::OffsetDeleteRequest;
    let mut c = coordinator();
    let (response, _) = c.delete_groups(&[GroupId(s("nope"))]);
    assert_eq!(
        response.results[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );
    let (a, _) = join_new(&mut c, 0, 1);
    let (response, _) = c.delete_groups(&[GroupId(s("g"))]);
    assert_eq!(
        response.results[0].error_code,
        ResponseError::NonEmptyGroup.code()
    );
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    let (response, _) = c.delete_offsets(&req);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ResponseError::GroupSubscribedToTopic.code()
    );
    c.leave_group(0, "g", &[(a, None)]);
    let (response, changes) = c.delete_groups(&[GroupId(s("g"))]);
    assert_eq!(response.results[0].error_code, 0);
    assert!(
        c.groups.contains_key("g"),
        "nothing changes before the write"
    );
    c.apply(changes);
    assert!(!c.groups.contains_key("g"));
}

#[test]
fn deletes_change_nothing_until_their_records_are_applied() {
    use gregor_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use gregor_protocol::messages::OffsetDeleteRequest;
    let mut c = coordinator();
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(""))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(
                (0..2)
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(10)
                    })
                    .collect(),
            )]);
    let (_, changes) = c.commit_offsets(0, 9, &commit);
    c.apply(changes);

    let delete_one = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    let (response, changes) = c.delete_offsets(&delete_one);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(changes.len(), 1);
    // The write failed: the runtime drops the changes, and the offset is still there.
    drop(changes);
    assert_eq!(c.offsets.get("g", "t", 0).map(|o| o.offset), Some(10));

    let (_, changes) = c.delete_groups(&[GroupId(s("g"))]);
    // Two offset tombstones, then the group's.
    assert_eq!(changes.len(), 3);
    drop(changes);
    assert!(c.groups.contains_key("g"));
    assert!(c.offsets.has_group("g"));

    let (_, changes) = c.delete_groups(&[GroupId(s("g"))]);
    c.apply(changes);
    assert!(!c.groups.contains_key("g"));
    assert!(!c.offsets.has_group("g"));
}

#[test]
fn describe_groups_reports_every_group_operation_when_asked() {
    let mut c = coordinator();
    join_new(&mut c, 0, 1);
    let ids = [GroupId(s("g")), GroupId(s("unknown"))];
    let asked = c.describe_groups(&ids, 5, true);
    // READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS, as Kafka 4.4 answers
    // without an authorizer; an unknown group before v6 is Dead without an error, and is
    // answered the same way.
    assert_eq!(asked.groups[0].authorized_operations, 3400);
    assert_eq!(asked.groups[1].authorized_operations, 3400);
    let not_asked = c.describe_groups(&ids, 5, false);
    assert_eq!(not_asked.groups[0].authorized_operations, i32::MIN);
    let v6 = c.describe_groups(&ids, 6, true);
    assert_eq!(
        v6.groups[1].authorized_operations,
        i32::MIN,
        "errors carry none"
    );
}

#[test]
fn initial_rebalance_delay_gathers_members_into_one_first_generation() {
    let mut c = GroupCoordinator::new(CoordinatorConfig {
        min_session_timeout_ms: 1000,
        initial_rebalance_delay_ms: 3_000,
        ..CoordinatorConfig::default()
    });
    // The first member waits for the delay instead of forming a generation alone.
    let (a, replies) = join_new(&mut c, 0, 1);
    assert!(joins(&replies).is_empty());
    assert_eq!(c.next_deadline(), Some(3_000));
    // A second member 2 s in pushes the wait to 3 s after it.
    let (b, replies) = join_new(&mut c, 2_000, 2);
    assert!(joins(&replies).is_empty());
    assert!(joins(&c.tick(3_000)).is_empty());
    let j = joins(&c.tick(5_000));
    assert_eq!(j.len(), 2, "both answered in the first generation");
    assert!(j.iter().all(|(_, r)| r.generation_id == 1));
    let ids: Vec<_> = j.iter().map(|(_, r)| r.member_id.to_string()).collect();
    assert!(ids.contains(&a) && ids.contains(&b));
    // Later rebalances of a non-empty group are not delayed.
    sync(&mut c, 3, &a, 1, &[(&a, "p0"), (&b, "p1")]);
    let (_, replies) = join_new(&mut c, 6_000, 4);
    assert!(
        joins(&replies).is_empty(),
        "waits for a and b to rejoin, no delay"
    );
    let mut replies = c.join_group(6_100, 5, 9, &join_req(&a, None), "client", "/h");
    replies.extend(c.join_group(6_100, 6, 9, &join_req(&b, None), "client", "/h"));
    assert_eq!(joins(&replies).len(), 3);
}

#[test]
fn initial_rebalance_delay_never_passes_the_rebalance_timeout() {
    let mut c = GroupCoordinator::new(CoordinatorConfig {
        min_session_timeout_ms: 1000,
        initial_rebalance_delay_ms: 1_000_000,
        ..CoordinatorConfig::default()
    });
    join_new(&mut c, 0, 1);
    let deadline = c.groups["g"].rebalance_deadline.unwrap();
    assert_eq!(c.next_deadline(), Some(deadline));
    assert_eq!(joins(&c.tick(deadline)).len(), 1);
}

#[test]
fn offset_metadata_over_the_limit_is_refused_and_not_stored() {
    let c = coordinator();
    let commit = |metadata: String| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(""))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)
                    .with_committed_metadata(Some(s(&metadata)))])])
    };
    let (r, changes) = c.commit_offsets(0, 8, &commit("x".repeat(4096)));
    assert_eq!(
        (r.topics[0].partitions[0].error_code, changes.len()),
        (0, 1)
    );
    let (r, changes) = c.commit_offsets(0, 8, &commit("x".repeat(4097)));
    assert_eq!(
        (r.topics[0].partitions[0].error_code, changes.len()),
        (ResponseError::OffsetMetadataTooLarge.code(), 0)
    );
    // Counted as Java counts: "é" is one UTF-16 unit though two UTF-8 bytes.
    let (r, _) = c.commit_offsets(0, 8, &commit("é".repeat(4096)));
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    // A limit raised past what a record string holds still never cuts metadata.
    let mut roomy = coordinator();
    roomy.config.offset_metadata_max_bytes = 1 << 20;
    let (r, changes) = roomy.commit_offsets(0, 8, &commit("é".repeat(20_000)));
    assert_eq!(
        (r.topics[0].partitions[0].error_code, changes.len()),
        (ResponseError::OffsetMetadataTooLarge.code(), 0)
    );
}

#[test]
fn a_sync_whose_metadata_is_not_written_hands_out_nothing() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s(&a))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&a))
            .with_assignment(Bytes::from_static(b"p0"))]);
    let replies = sync_request(&mut c, 2, &req, false);
    assert_eq!(
        syncs(&replies)[0].1.error_code,
        ResponseError::CoordinatorNotAvailable.code()
    );
    let group = &c.groups["g"];
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert!(
        group.members[&a].assignment.is_empty(),
        "no assignment without its record"
    );
}

#[test]
fn a_stable_group_comes_back_from_its_metadata_record() {
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s(&a))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&a))
            .with_assignment(Bytes::from_static(b"p0"))]);
    let (_, pending) = c.sync_group(2, &req);
    let pending = pending.expect("the leader's sync waits for its record");
    let crate::coordinator::records::CoordinatorRecord::Group(id, Some(meta)) = &pending.record
    else {
        panic!("{:?}", pending.record);
    };
    c.complete_sync(
        0,
        pending.clone(),
        true,
        ResponseError::CoordinatorNotAvailable,
    );

    let restored = crate::coordinator::classic_group::ClassicGroup::from_metadata(id, meta, 500);
    assert_eq!(restored.state, GroupState::Stable);
    assert_eq!(restored.generation, 1);
    assert_eq!(restored.leader.as_deref(), Some(a.as_str()));
    assert_eq!(&restored.members[&a].assignment[..], b"p0");
    assert_eq!(
        restored.members[&a].session_deadline,
        500 + c.groups["g"].members[&a].session_timeout_ms,
        "a loaded member gets a fresh session"
    );
    // Its heartbeats carry on at the same generation.
    let mut after = coordinator();
    after.groups.insert("g".into(), restored);
    assert_eq!(after.heartbeat(600, "g", &a, None, 1), Ok(()));
}

/// The event types the coordinator produced since the last call, in order.
fn event_types(c: &mut GroupCoordinator, now: i64) -> Vec<&'static str> {
    use super::group_events::GroupEventKind as K;
    c.events
        .take(now)
        .into_iter()
        .map(|e| match e.kind {
            K::MemberJoined { .. } => "joined",
            K::MemberLeft { .. } => "left",
            K::SessionTimeout { .. } => "session_timeout",
            K::RebalanceTimeout { .. } => "rebalance_timeout",
            K::RebalanceStarted { .. } => "rebalance",
            K::GenerationCompleted { .. } => "generation",
            K::TargetAssignment { .. } => "target",
            K::PartitionsRevoked { .. } => "revoked",
            K::PartitionsAssigned { .. } => "assigned",
            K::OffsetsCommitted { .. } => "committed",
        })
        .collect()
}

#[test]
fn a_classic_group_reports_joins_generations_and_an_expiry_in_order() {
    use super::group_events::GroupEventKind;
    let mut c = coordinator();
    let (a, _) = join_new(&mut c, 0, 1);
    assert_eq!(event_types(&mut c, 0), ["joined", "rebalance"]);
    // ConsumerProtocolAssignment v0 of t: [0, 1].
    let assignment: &[u8] = &[
        0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s(&a))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&a))
            .with_assignment(Bytes::from_static(assignment))]);
    sync_request(&mut c, 2, &req, true);
    let events = c.events.take(0);
    match &events[..] {
        [e] => match &e.kind {
            GroupEventKind::GenerationCompleted {
                generation,
                assignment,
                ..
            } => {
                assert_eq!(*generation, 1);
                assert_eq!(assignment[0].member_id, a);
                assert_eq!(assignment[0].partitions[0].partitions, [0, 1]);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // The snapshot decodes the same assignment.
    let snapshot = c.snapshot(&Default::default());
    assert_eq!(snapshot[0].members[0].assigned[0].partitions, [0, 1]);
    // Silent past its session timeout: expired, and a rebalance (to Empty) follows.
    c.tick(10_001);
    let events = c.events.take(10_001);
    assert!(
        matches!(&events[0].kind, GroupEventKind::SessionTimeout { member_id, session_timeout_ms: 10_000 } if *member_id == a),
        "{events:?}"
    );
    assert!(matches!(
        &events[1].kind,
        GroupEventKind::RebalanceStarted { .. }
    ));
    assert_eq!(c.events.rebalances("g"), 2);
}

#[test]
fn commits_are_counted_into_one_event_per_window() {
    use super::records::CoordinatorRecord;
    let mut c = coordinator();
    let commit = |p: i32| {
        CoordinatorRecord::Offset(
            ("g".into(), "t".into(), p),
            Some(super::offsets::CommittedOffset {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_time_ms: 0,
            }),
        )
    };
    c.apply(vec![commit(0), commit(1)]);
    assert!(
        event_types(&mut c, 0).is_empty(),
        "not one event per commit"
    );
    c.apply(vec![commit(0)]);
    assert_eq!(c.next_deadline(), Some(1_000));
    assert_eq!(event_types(&mut c, 1_000), ["committed"]);
    assert_eq!(c.next_deadline(), None);
}

/// The runtime asks for the next deadline after every event and the coordinator keeps the
/// classic groups' part while only offsets are committed: a join after a run of commits must
/// still bring the deadline to the new member's pending id, and a commit must not hide it.
#[test]
fn a_join_after_commits_brings_the_deadline_forward() {
    use super::runtime::Outcome;
    use super::service::{execute, GroupRequest};
    use gregor_protocol::messages::RequestKind;

    let request = |body| GroupRequest {
        body,
        version: 9,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        group_config: Default::default(),
        topic_describe: None,
    };
    let commit = |group: &str, offset| {
        RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)])]),
        )
    };
    let mut c = coordinator();
    let run = |c: &mut GroupCoordinator, id, now, body| {
        if let Outcome::Write { records, .. } = execute(c, request(body), id, now, now) {
            c.apply(records);
        }
    };
    run(&mut c, 1, 0, commit("simple", 1));
    assert_eq!(c.next_deadline(), None);
    run(&mut c, 2, 10, RequestKind::JoinGroup(join_req("", None)));
    // The pending member id lives for the session timeout (10 s).
    assert_eq!(c.next_deadline(), Some(10_010));
    run(&mut c, 3, 20, commit("simple", 2));
    assert_eq!(c.next_deadline(), Some(10_010));
    c.tick(10_011);
    assert_eq!(c.next_deadline(), None);
}
