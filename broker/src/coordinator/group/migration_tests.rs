//! Online migration, driven through the coordinator as the runtime drives it (every write
//! succeeds, records applied after it) with a virtual clock: a classic group upgraded by a
//! ConsumerGroupHeartbeat, its classic members rejoining inside the consumer group, a restart,
//! the downgrade when the consumer-protocol member leaves, and each policy's refusals.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_protocol::messages::leave_group_request::MemberIdentity;
use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_protocol::messages::{
    ConsumerGroupHeartbeatRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    RequestKind, ResponseKind, SyncGroupRequest, TopicName,
};
use gregor_protocol::{ResponseError, StrBytes};
use uuid::Uuid;

use super::migration::{encode_assignment, MigrationPolicy};
use super::snapshot::decode_consumer_assignment;
use super::topics::{TopicImage, TopicInfo, TopicSource};
use super::Assignment;
use crate::coordinator::classic_group::{ClassicGroup, GroupState};
use crate::coordinator::records::CoordinatorRecord;
use crate::coordinator::runtime::Outcome;
use crate::coordinator::service::{execute, GroupRequest, WRITE_FAILED};
use crate::coordinator::{CoordinatorConfig, GroupCoordinator};

const TOPIC: Uuid = Uuid::from_u128(0x77);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn image() -> TopicImage {
    TopicImage::new([TopicInfo {
        id: TOPIC,
        name: "t".into(),
        partitions: 3,
    }])
}

/// A `ConsumerProtocolSubscription` v1 of topic t, owning `owned` of it.
fn subscription(owned: &[i32]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_i32(1);
    b.put_i16(1);
    b.put_slice(b"t");
    b.put_i32(-1);
    b.put_i32(i32::from(!owned.is_empty()));
    if !owned.is_empty() {
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(owned.len() as i32);
        for p in owned {
            b.put_i32(*p);
        }
    }
    b.freeze()
}

fn parts(ps: &[i32]) -> Assignment {
    [(TOPIC, ps.iter().copied().collect())].into()
}

/// The coordinator, every record written so far, and the answers to parked requests.
struct Harness {
    c: GroupCoordinator,
    now: i64,
    next: u64,
    parked: BTreeMap<u64, ResponseKind>,
    log: Vec<CoordinatorRecord>,
}

impl Harness {
    fn new(policy: MigrationPolicy) -> Harness {
        let mut config = CoordinatorConfig {
            min_session_timeout_ms: 1000,
            topics: TopicSource::new(image),
            ..CoordinatorConfig::default()
        };
        config.consumer.migration_policy = policy;
        Harness {
            c: GroupCoordinator::new(config),
            now: 0,
            next: 0,
            parked: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn written(&mut self, records: Vec<CoordinatorRecord>) {
        self.log.extend(records.iter().cloned());
        self.c.apply(records);
    }

    /// Runs `body`; its answer if it has one now.
    fn call(&mut self, version: i16, body: RequestKind) -> Option<ResponseKind> {
        self.next += 1;
        let id = self.next;
        let request = GroupRequest {
            body,
            version,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            group_config: Default::default(),
            topic_describe: None,
        };
        let answer = match execute(&mut self.c, request, id, self.now, self.now) {
            Outcome::Reply(r, replies) => {
                self.parked.extend(replies);
                Some(r)
            }
            Outcome::Parked(replies) => {
                self.parked.extend(replies);
                self.parked.remove(&id)
            }
            Outcome::Write {
                records, response, ..
            } => {
                self.written(records);
                Some(response)
            }
            Outcome::WriteThen {
                replies,
                records,
                pending,
            } => {
                self.parked.extend(replies);
                self.written(records);
                let done = self.c.complete_sync(self.now, *pending, true, WRITE_FAILED);
                for r in done {
                    let body = match r.response {
                        crate::coordinator::Response::Join(j) => ResponseKind::JoinGroup(j),
                        crate::coordinator::Response::Sync(j) => ResponseKind::SyncGroup(j),
                    };
                    self.parked.insert(r.id, body);
                }
                self.parked.remove(&id)
            }
            Outcome::Ignored => None,
        };
        let background = self.c.take_emptied_group_records();
        self.log.extend(background);
        self.collect_background();
        // As the runtime asks after every event; the cached classic deadline is checked
        // against a fresh one (debug builds).
        let _ = self.c.next_deadline();
        answer
    }

    /// What the coordinator did on its own (expiries, downgrades after them), into the log.
    fn collect_background(&mut self) {
        let fenced = self.c.consumer.take_background_records();
        self.log
            .extend(fenced.into_iter().map(CoordinatorRecord::Consumer));
        self.log.append(&mut self.c.background);
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        self.c.tick(self.now);
        self.collect_background();
        let _ = self.c.next_deadline();
    }

    /// A classic JoinGroup (v9); returns (error code, member id, generation, protocol).
    fn join(&mut self, member: &str, owned: &[i32]) -> Option<(i16, String, i32)> {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(owned))]);
        match self.call(9, RequestKind::JoinGroup(req))? {
            ResponseKind::JoinGroup(r) => {
                Some((r.error_code, r.member_id.to_string(), r.generation_id))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A new classic member: MEMBER_ID_REQUIRED, then the join (maybe parked).
    fn join_new(&mut self) -> String {
        let (code, id, _) = self.join("", &[]).unwrap();
        assert_eq!(code, ResponseError::MemberIdRequired.code());
        id
    }

    fn sync(
        &mut self,
        member: &str,
        generation: i32,
        assignments: &[(&str, &[i32])],
    ) -> Option<(i16, Vec<i32>)> {
        let topics = image();
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(generation)
            .with_member_id(s(member))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, ps)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(encode_assignment(1, &parts(ps), &topics))
                    })
                    .collect(),
            );
        match self.call(5, RequestKind::SyncGroup(req))? {
            ResponseKind::SyncGroup(r) => Some((r.error_code, assigned(&r.assignment))),
            other => panic!("{other:?}"),
        }
    }

    fn heartbeat(&mut self, member: &str, generation: i32) -> i16 {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(member))
            .with_generation_id(generation);
        match self.call(4, RequestKind::Heartbeat(req)) {
            Some(ResponseKind::Heartbeat(r)) => r.error_code,
            other => panic!("{other:?}"),
        }
    }

    /// A ConsumerGroupHeartbeat (v1); returns (error code, epoch, assignment if given).
    fn cgh(&mut self, member: &str, epoch: i32, owned: &[i32]) -> (i16, i32, Option<Vec<i32>>) {
        let joining = epoch == 0;
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(if joining { 30_000 } else { -1 })
            .with_subscribed_topic_names(joining.then(|| vec![TopicName(s("t"))]))
            .with_topic_partitions((epoch >= 0).then(|| {
                vec![TopicPartitions::default()
                    .with_topic_id(TOPIC)
                    .with_partitions(owned.to_vec())]
            }));
        match self.call(1, RequestKind::ConsumerGroupHeartbeat(req)) {
            Some(ResponseKind::ConsumerGroupHeartbeat(r)) => (
                r.error_code,
                r.member_epoch,
                r.assignment.map(|a| {
                    a.topic_partitions
                        .iter()
                        .flat_map(|t| t.partitions.iter().copied())
                        .collect()
                }),
            ),
            other => panic!("{other:?}"),
        }
    }

    fn leave(&mut self, member: &str) -> i16 {
        let req = LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_members(vec![MemberIdentity::default().with_member_id(s(member))]);
        match self.call(5, RequestKind::LeaveGroup(req)) {
            Some(ResponseKind::LeaveGroup(r)) => r.members[0].error_code,
            other => panic!("{other:?}"),
        }
    }

    fn classic(&self) -> &ClassicGroup {
        &self.c.groups["g"]
    }

    /// No partition is assigned to, or pending revocation from, two members.
    fn assert_exclusive(&self) {
        if let Some(g) = self.c.consumer.groups.get("g") {
            let mut seen = BTreeSet::new();
            for m in g.members.values() {
                for a in [&m.current.assigned, &m.current.pending_revocation] {
                    for (t, ps) in a {
                        for p in ps {
                            assert!(seen.insert((*t, *p)), "partition {p} held twice: {g:?}");
                        }
                    }
                }
            }
        }
    }

    /// Each member's assigned partitions of t.
    fn assigned(&self) -> BTreeMap<String, Vec<i32>> {
        self.c.consumer.groups["g"]
            .members
            .values()
            .map(|m| {
                let ps = m.current.assigned.get(&TOPIC).cloned().unwrap_or_default();
                (m.member_id.clone(), ps.into_iter().collect())
            })
            .collect()
    }
}

fn assigned(bytes: &[u8]) -> Vec<i32> {
    decode_consumer_assignment(bytes)
        .expect("a consumer protocol assignment")
        .into_iter()
        .flat_map(|t| t.partitions)
        .collect()
}

/// A Stable classic group: a owns t-0 and t-1, b owns t-2, at generation 2.
fn classic_group(policy: MigrationPolicy) -> (Harness, String, String) {
    let mut h = Harness::new(policy);
    let a = h.join_new();
    let (code, _, generation) = h.join(&a, &[]).expect("a lone member's join completes");
    assert_eq!((code, generation), (0, 1));
    assert_eq!(h.sync(&a, 1, &[(&a, &[0, 1, 2])]).unwrap().0, 0);
    let b = h.join_new();
    assert!(h.join(&b, &[]).is_none(), "b waits for a to rejoin");
    assert_eq!(
        h.heartbeat(&a, 1),
        ResponseError::RebalanceInProgress.code()
    );
    let (_, _, generation) = h.join(&a, &[]).expect("everyone rejoined");
    assert_eq!(generation, 2);
    let a_sync = h.sync(&a, 2, &[(&a, &[0, 1]), (&b, &[2])]).unwrap();
    assert_eq!(a_sync, (0, vec![0, 1]));
    assert_eq!(h.sync(&b, 2, &[]).unwrap(), (0, vec![2]));
    assert_eq!(h.classic().state, GroupState::Stable);
    (h, a, b)
}

#[test]
fn a_consumer_heartbeat_upgrades_a_stable_classic_group_and_members_keep_their_partitions() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    let (code, epoch, assignment) = h.cgh("c", 0, &[]);
    assert_eq!(code, 0);
    assert_eq!(epoch, 3, "the classic generation 2, bumped by the join");
    // Every partition is still owned by a classic member: c waits.
    assert_eq!(assignment, Some(vec![]));
    assert!(!h.c.groups.contains_key("g"), "the classic group is gone");
    let group = &h.c.consumer.groups["g"];
    assert_eq!(group.members[&a].current.assigned, parts(&[0, 1]));
    assert_eq!(group.members[&b].current.assigned, parts(&[2]));
    let classic = group.members[&a].metadata.classic.as_ref().unwrap();
    assert_eq!(classic.session_timeout_ms, 10_000);
    assert_eq!(classic.supported_protocols[0].0, "range");
    h.assert_exclusive();
    // The log says so too: the classic metadata's tombstone, then the consumer group.
    assert!(h.log.contains(&CoordinatorRecord::Group("g".into(), None)));
}

#[test]
fn classic_members_rejoin_inside_the_consumer_group_and_revoke_before_c_gets_anything() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    let (_, c_epoch, _) = h.cgh("c", 0, &[]);
    // The group epoch moved: classic members are told to rejoin.
    assert_eq!(
        h.heartbeat(&a, 2),
        ResponseError::RebalanceInProgress.code()
    );
    assert_eq!(h.heartbeat(&a, 7), ResponseError::IllegalGeneration.code());
    assert_eq!(
        h.heartbeat("nobody", 2),
        ResponseError::UnknownMemberId.code()
    );
    // An eager member rejoins owning nothing: it moves to the new epoch at once.
    let (code, id, generation) = h.join(&a, &[]).expect("answered at once");
    assert_eq!((code, id.as_str()), (0, a.as_str()));
    assert_eq!(generation, c_epoch);
    let (code, mine) = h.sync(&a, generation, &[]).unwrap();
    assert_eq!(code, 0);
    assert_eq!(mine.len(), 1, "a keeps one of its two partitions: {mine:?}");
    h.assert_exclusive();
    assert_eq!(h.heartbeat(&a, generation), 0);
    // b rejoins, cooperatively: it reports what it owns and keeps it.
    assert_eq!(
        h.heartbeat(&b, 2),
        ResponseError::RebalanceInProgress.code()
    );
    let (_, _, b_generation) = h.join(&b, &[2]).unwrap();
    let (_, b_mine) = h.sync(&b, b_generation, &[]).unwrap();
    assert_eq!(b_mine.len(), 1);
    h.assert_exclusive();
    // c gets the partition a gave up.
    let (code, _, assignment) = h.cgh("c", c_epoch, &[]);
    assert_eq!(code, 0);
    let c_mine = assignment.expect("c's partitions changed");
    assert_eq!(c_mine.len(), 1);
    let mut all: Vec<i32> = [mine, b_mine, c_mine].concat();
    all.sort();
    assert_eq!(all, vec![0, 1, 2], "every partition has exactly one owner");
    h.assert_exclusive();
}

#[test]
fn a_restart_keeps_the_upgraded_group_with_its_classic_members() {
    let (mut h, a, _) = classic_group(MigrationPolicy::Bidirectional);
    h.cgh("c", 0, &[]);
    let (_, _, generation) = h.join(&a, &[]).unwrap();
    // Replay the log as the loader does: a group's metadata restores it, the rest is applied.
    let mut restarted = GroupCoordinator::new(CoordinatorConfig::default());
    for record in h.log.clone() {
        let bytes = record.encode();
        let decoded =
            CoordinatorRecord::decode(bytes.0, bytes.1, crate::coordinator::records::Legacy::None)
                .unwrap()
                .unwrap();
        match decoded {
            CoordinatorRecord::Group(id, Some(meta)) => {
                let g = ClassicGroup::from_metadata(&id, &meta, 0);
                restarted.groups.insert(id, g);
            }
            other => restarted.apply_records(vec![other]),
        }
    }
    assert!(!restarted.groups.contains_key("g"));
    let group = &restarted.consumer.groups["g"];
    assert_eq!(group, &h.c.consumer.groups["g"]);
    assert_eq!(group.members[&a].current.member_epoch, generation);
    assert!(group.members[&a].metadata.classic.is_some());
}

#[test]
fn the_last_consumer_member_leaving_downgrades_the_group_with_a_rebalance() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    let (_, c_epoch, _) = h.cgh("c", 0, &[]);
    let (_, _, a_generation) = h.join(&a, &[]).unwrap();
    h.sync(&a, a_generation, &[]);
    let (code, epoch, _) = h.cgh("c", -1, &[]);
    assert_eq!((code, epoch), (0, -1));
    assert!(
        !h.c.consumer.groups.contains_key("g"),
        "no consumer group any more"
    );
    let classic = h.classic();
    assert_eq!(classic.state, GroupState::PreparingRebalance);
    assert_eq!(classic.generation, c_epoch);
    assert_eq!(classic.members.len(), 2);
    assert_eq!(classic.protocol.as_deref(), Some("range"));
    assert!(h.log.iter().any(
        |r| matches!(r, CoordinatorRecord::Group(g, Some(m)) if g == "g" && m.members.len() == 2)
    ));
    // The classic members rejoin under the classic protocol and get a new generation.
    assert_eq!(
        h.heartbeat(&a, a_generation),
        ResponseError::RebalanceInProgress.code()
    );
    h.parked.clear();
    assert!(h.join(&a, &[]).is_none(), "a waits for b");
    let (code, _, generation) = h.join(&b, &[2]).expect("everyone rejoined");
    assert_eq!(code, 0);
    assert_eq!(generation, c_epoch + 1);
    let answered = h.parked.values().any(|r| {
        matches!(r, ResponseKind::JoinGroup(j) if j.member_id.as_str() == a && j.generation_id == generation)
    });
    assert!(answered, "a's join is answered too: {:?}", h.parked);
}

#[test]
fn a_classic_member_leaving_stays_in_a_consumer_group() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    h.cgh("c", 0, &[]);
    assert_eq!(h.leave(&a), 0);
    assert_eq!(h.leave(&a), ResponseError::UnknownMemberId.code());
    let members = h.assigned();
    assert!(members.contains_key(&b) && members.contains_key("c") && members.len() == 2);
    assert!(!h.c.groups.contains_key("g"));
}

#[test]
fn a_silent_classic_member_is_fenced_at_its_session_timeout() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    let (_, c_epoch, _) = h.cgh("c", 0, &[]);
    for _ in 0..3 {
        h.advance(4_000);
        assert_eq!(
            h.heartbeat(&b, 2),
            ResponseError::RebalanceInProgress.code()
        );
        h.cgh("c", c_epoch, &[]);
    }
    // a's session (10 s from the upgrade) is over: its partitions are free for the others.
    assert!(!h.assigned().contains_key(&a));
}

#[test]
fn policies_refuse_what_they_do_not_allow() {
    // disabled: neither protocol gets into a group of the other kind with members.
    let (mut h, _, _) = classic_group(MigrationPolicy::Disabled);
    assert_eq!(h.cgh("c", 0, &[]).0, ResponseError::GroupIdNotFound.code());
    let mut h = Harness::new(MigrationPolicy::Disabled);
    h.cgh("c", 0, &[]);
    let (code, _, _) = h.join("", &[]).unwrap();
    assert_eq!(code, ResponseError::InconsistentGroupProtocol.code());

    // downgrade only: a classic group is not upgraded.
    let (mut h, _, _) = classic_group(MigrationPolicy::Downgrade);
    assert_eq!(h.cgh("c", 0, &[]).0, ResponseError::GroupIdNotFound.code());

    // upgrade only: the last consumer member leaving leaves a consumer group of classic ones.
    let (mut h, a, _) = classic_group(MigrationPolicy::Upgrade);
    h.cgh("c", 0, &[]);
    h.cgh("c", -1, &[]);
    assert!(!h.c.groups.contains_key("g"));
    assert!(h.c.consumer.groups["g"].members.contains_key(&a));
}

#[test]
fn a_classic_group_mid_rebalance_asks_the_consumer_member_to_retry() {
    let (mut h, a, _) = classic_group(MigrationPolicy::Bidirectional);
    h.join(&a, &[0, 1]);
    assert_eq!(h.classic().state, GroupState::PreparingRebalance);
    assert_eq!(
        h.cgh("c", 0, &[]).0,
        ResponseError::CoordinatorLoadInProgress.code()
    );
}

#[test]
fn classic_members_commit_with_their_generation() {
    let (mut h, a, _) = classic_group(MigrationPolicy::Bidirectional);
    h.cgh("c", 0, &[]);
    // a was converted at epoch 2, the classic generation it knows.
    assert_eq!(h.c.commit_allowed("g", &a, 2, 8), None);
    assert_eq!(
        h.c.commit_allowed("g", &a, 1, 8),
        Some(ResponseError::IllegalGeneration)
    );
    // A consumer-protocol member still needs OffsetCommit v9.
    assert_eq!(
        h.c.commit_allowed("g", "c", 3, 8),
        Some(ResponseError::UnsupportedVersion)
    );
}

#[test]
fn a_consumer_member_fenced_by_its_session_timeout_downgrades_the_group() {
    let (mut h, a, b) = classic_group(MigrationPolicy::Bidirectional);
    let (_, c_epoch, _) = h.cgh("c", 0, &[]);
    // c never heartbeats again; the classic members do (and are told to rejoin).
    while !h.c.groups.contains_key("g") {
        assert!(h.now < 60_000, "c's 45 s session never ended");
        h.advance(4_000);
        if h.c.consumer.groups.contains_key("g") {
            h.heartbeat(&a, 2);
            h.heartbeat(&b, 2);
        }
    }
    let classic = h.classic();
    assert_eq!(classic.state, GroupState::PreparingRebalance);
    assert_eq!(classic.members.len(), 2);
    assert!(
        classic.generation > c_epoch,
        "c's fencing bumped the epoch first"
    );
    assert!(!h.c.consumer.groups.contains_key("g"));
    // Written for a restart: the tombstones, then the classic metadata.
    assert!(matches!(h.log.last(), Some(CoordinatorRecord::Group(g, Some(_))) if g == "g"));
}
