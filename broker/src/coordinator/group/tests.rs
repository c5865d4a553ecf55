//! The consumer group state machine driven through heartbeats, with a virtual clock: each
//! transition and error code, restart by replay, and a property test of safety and convergence.

use std::collections::{BTreeMap, BTreeSet};

use gregor_protocol::ResponseError;
use proptest::prelude::*;
use uuid::Uuid;

use super::consumer_group::ConsumerGroupState;
use super::current_assignment::MemberState;
use super::manager::{
    ConsumerGroupConfig, ConsumerGroupManager, GroupConfigOverrides, HeartbeatRequest,
    HeartbeatResponse,
};
use super::records::ConsumerRecord;
use super::topics::{TopicImage, TopicInfo};
use super::{partition_count, Assignment};
use crate::error::KafkaError;

fn topic_id(name: &str) -> Uuid {
    Uuid::from_u128(name.bytes().fold(7u128, |h, b| h * 31 + u128::from(b)))
}

fn image(topics: &[(&str, i32)]) -> TopicImage {
    TopicImage::new(topics.iter().map(|(name, partitions)| TopicInfo {
        id: topic_id(name),
        name: name.to_string(),
        partitions: *partitions,
    }))
}

/// A manager whose records are applied as soon as they are made (every write succeeds).
struct Harness {
    m: ConsumerGroupManager,
    topics: TopicImage,
    now: i64,
    log: Vec<ConsumerRecord>,
}

impl Harness {
    fn new(topics: &[(&str, i32)]) -> Harness {
        Harness {
            m: ConsumerGroupManager::new(ConsumerGroupConfig::default()),
            topics: image(topics),
            now: 0,
            log: Vec::new(),
        }
    }

    fn hb(&mut self, req: HeartbeatRequest) -> Result<HeartbeatResponse, KafkaError> {
        let (response, records) = self
            .m
            .heartbeat(self.now, &req, &self.topics, || "generated".into())?;
        for r in records {
            self.log.push(r.clone());
            self.m.replay(r);
        }
        Ok(response)
    }

    fn code(&mut self, req: HeartbeatRequest) -> ResponseError {
        match self.hb(req) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e.code,
        }
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        self.m.tick(self.now, &self.topics);
        self.log.extend(self.m.take_background_records());
    }

    fn group(&self) -> &super::consumer_group::ConsumerGroup {
        &self.m.groups["g"]
    }

    /// No partition is held (assigned or pending revocation) by two members.
    fn assert_exclusive(&self) {
        for g in self.m.groups.values() {
            let mut seen = BTreeSet::new();
            for m in g.members.values() {
                for a in [&m.current.assigned, &m.current.pending_revocation] {
                    for (t, ps) in a {
                        for p in ps {
                            assert!(seen.insert((*t, *p)), "{t} {p} held twice in {g:?}");
                        }
                    }
                }
            }
        }
    }
}

fn join(member: &str, topics: &[&str]) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
        owned: Some(Assignment::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        member_id_required: true,
        ..HeartbeatRequest::default()
    }
}

fn beat(member: &str, epoch: i32, owned: &Assignment) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        member_id_required: true,
        ..HeartbeatRequest::default()
    }
}

fn parts(topic: &str, ps: &[i32]) -> Assignment {
    [(topic_id(topic), ps.iter().copied().collect())].into()
}

#[test]
fn a_lone_member_gets_every_partition_and_the_group_is_stable() {
    let mut h = Harness::new(&[("t", 3)]);
    let r = h.hb(join("a", &["t"])).unwrap();
    assert_eq!(r.member_epoch, 1);
    // An answer that moves partitions asks for the next heartbeat sooner.
    assert_eq!(r.heartbeat_interval_ms, 1_000);
    assert_eq!(r.assignment, Some(parts("t", &[0, 1, 2])));
    assert_eq!(h.group().state(), ConsumerGroupState::Stable);
    assert_eq!((h.group().group_epoch, h.group().assignment_epoch), (1, 1));
    // A heartbeat that changes nothing carries no assignment, and a stable group heartbeats
    // at the configured interval.
    let r = h.hb(beat("a", 1, &parts("t", &[0, 1, 2]))).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, None));
    assert_eq!(r.heartbeat_interval_ms, 5_000);
}

#[test]
fn members_heartbeat_faster_while_a_partition_moves() {
    let mut h = Harness::new(&[("t", 2)]);
    h.hb(join("a", &["t"])).unwrap();
    h.hb(beat("a", 1, &parts("t", &[0, 1]))).unwrap();
    // b joins: it waits for a partition a still owns, a is yet to hear it must give one up.
    let r = h.hb(join("b", &["t"])).unwrap();
    assert_eq!(r.heartbeat_interval_ms, 1_000, "b waits for a partition");
    let r = h.hb(beat("a", 1, &parts("t", &[0, 1]))).unwrap();
    assert_eq!(r.heartbeat_interval_ms, 1_000, "a must revoke");
    let revoked = r.assignment.expect("a's new assignment");
    let r = h.hb(beat("a", r.member_epoch, &revoked)).unwrap();
    assert_eq!(
        r.heartbeat_interval_ms, 1_000,
        "b has not taken its partition yet"
    );
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    let given = r.assignment.expect("b's partition");
    let r = h.hb(beat("b", r.member_epoch, &given)).unwrap();
    assert_eq!(r.heartbeat_interval_ms, 5_000, "the group is stable again");
    assert_eq!(h.group().state(), ConsumerGroupState::Stable);
}

#[test]
fn a_second_member_gets_a_partition_only_after_the_first_revokes_it() {
    let mut h = Harness::new(&[("t", 3)]);
    h.hb(join("a", &["t"])).unwrap();
    let r = h.hb(join("b", &["t"])).unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(
        r.assignment,
        Some(Assignment::new()),
        "a still owns b's partition"
    );
    assert_eq!(
        h.group().members["b"].current.state,
        MemberState::UnreleasedPartitions
    );
    assert_eq!(h.group().state(), ConsumerGroupState::Reconciling);
    // a is told to give one up, and stays at epoch 1 until it has.
    let r = h.hb(beat("a", 1, &parts("t", &[0, 1, 2]))).unwrap();
    assert_eq!(r.member_epoch, 1);
    let kept = r.assignment.clone().unwrap();
    assert_eq!(partition_count(&kept), 2);
    assert_eq!(
        h.group().members["a"].current.state,
        MemberState::UnrevokedPartitions
    );
    h.assert_exclusive();
    // Still reporting it: nothing moves.
    let r = h.hb(beat("a", 1, &parts("t", &[0, 1, 2]))).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, None));
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    assert_eq!(r.assignment, None);
    // Revoked: a moves to epoch 2, then b gets the partition.
    let r = h.hb(beat("a", 1, &kept)).unwrap();
    assert_eq!(r.member_epoch, 2);
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    assert_eq!(partition_count(&r.assignment.unwrap()), 1);
    assert_eq!(h.group().state(), ConsumerGroupState::Stable);
    h.assert_exclusive();
}

#[test]
fn leaving_releases_partitions_and_bumps_the_group_epoch() {
    let mut h = Harness::new(&[("t", 2)]);
    h.hb(join("a", &["t"])).unwrap();
    h.hb(join("b", &["t"])).unwrap();
    let r = h.hb(beat("a", 1, &parts("t", &[0, 1]))).unwrap();
    let kept = r.assignment.unwrap();
    h.hb(beat("a", 1, &kept)).unwrap();
    h.hb(beat("b", 2, &Assignment::new())).unwrap();
    let epoch = h.group().group_epoch;
    let r = h.hb(beat("b", -1, &Assignment::new())).unwrap();
    assert_eq!((r.member_id.as_str(), r.member_epoch), ("b", -1));
    assert!(!h.group().members.contains_key("b"));
    assert_eq!(h.group().group_epoch, epoch + 1);
    let r = h.hb(beat("a", 3 - 1, &kept)).unwrap();
    assert_eq!(r.assignment, Some(parts("t", &[0, 1])));
    // Leaving twice: unknown.
    assert_eq!(
        h.code(beat("b", -1, &Assignment::new())),
        ResponseError::UnknownMemberId
    );
}

#[test]
fn the_session_timeout_fences_a_silent_member() {
    let mut h = Harness::new(&[("t", 2)]);
    h.hb(join("a", &["t"])).unwrap();
    h.advance(44_999);
    assert!(h.group().members.contains_key("a"));
    h.advance(1);
    assert!(h.group().members.is_empty());
    assert_eq!(h.group().state(), ConsumerGroupState::Empty);
    assert!(h
        .log
        .iter()
        .any(|r| matches!(r, ConsumerRecord::Member(_, m, None) if m == "a")));
    assert_eq!(
        h.code(beat("a", 1, &Assignment::new())),
        ResponseError::UnknownMemberId
    );
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn a_groups_own_session_timeout_and_heartbeat_interval_win_over_the_brokers() {
    let mut h = Harness::new(&[("t", 2)]);
    let own = GroupConfigOverrides {
        session_timeout_ms: Some(50_000),
        heartbeat_interval_ms: Some(2_000),
    };
    h.hb(HeartbeatRequest {
        group_config: own,
        ..join("a", &["t"])
    })
    .unwrap();
    let r = h
        .hb(HeartbeatRequest {
            group_config: own,
            ..beat("a", 1, &parts("t", &[0, 1]))
        })
        .unwrap();
    assert_eq!(r.heartbeat_interval_ms, 2_000);
    // Past the broker's 45 s, within the group's 50 s.
    h.advance(49_999);
    assert!(h.group().members.contains_key("a"));
    h.advance(1);
    assert!(h.group().members.is_empty());
}

#[test]
fn the_rebalance_timeout_fences_a_member_that_does_not_revoke() {
    let mut h = Harness::new(&[("t", 2)]);
    h.hb(join("a", &["t"])).unwrap();
    h.hb(join("b", &["t"])).unwrap();
    h.hb(beat("a", 1, &parts("t", &[0, 1]))).unwrap();
    assert_eq!(
        h.group().members["a"].current.state,
        MemberState::UnrevokedPartitions
    );
    h.advance(5_000);
    h.hb(beat("a", 1, &parts("t", &[0, 1]))).unwrap();
    h.hb(beat("b", 2, &Assignment::new())).unwrap();
    h.advance(5_000);
    assert!(
        !h.group().members.contains_key("a"),
        "fenced 10 s after it was asked"
    );
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    assert_eq!(r.assignment, Some(parts("t", &[0, 1])));
    assert_eq!(
        h.code(beat("a", 1, &parts("t", &[0, 1]))),
        ResponseError::UnknownMemberId
    );
}

#[test]
fn member_epochs_are_checked_as_kafka_checks_them() {
    let mut h = Harness::new(&[("t", 2)]);
    h.hb(join("a", &["t"])).unwrap();
    assert_eq!(
        h.code(beat("a", 2, &Assignment::new())),
        ResponseError::FencedMemberEpoch
    );
    h.hb(join("b", &["t"])).unwrap();
    h.hb(beat("b", 2, &Assignment::new())).unwrap();
    let r = h.hb(beat("a", 1, &parts("t", &[0]))).unwrap();
    assert_eq!(
        r.member_epoch, 2,
        "a had already dropped what it must revoke"
    );
    // The previous epoch is accepted with a subset of the assignment (a lost answer)...
    let owned = h.group().members["a"].current.assigned.clone();
    assert!(h.hb(beat("a", 1, &owned)).is_ok());
    // ...not with partitions outside it, and not an older one.
    assert_eq!(
        h.code(beat("a", 1, &parts("t", &[0, 1]))),
        ResponseError::FencedMemberEpoch
    );
    assert_eq!(
        h.code(beat("a", -3, &Assignment::new())),
        ResponseError::InvalidRequest
    );
    assert_eq!(
        h.code(beat("zz", 2, &Assignment::new())),
        ResponseError::UnknownMemberId
    );
    assert_eq!(
        h.code(HeartbeatRequest {
            group_id: "nope".into(),
            ..beat("a", 1, &Assignment::new())
        }),
        ResponseError::GroupIdNotFound
    );
}

#[test]
fn invalid_requests_get_kafkas_messages() {
    let mut h = Harness::new(&[("t", 1)]);
    let message = |h: &mut Harness, req| h.hb(req).unwrap_err().message.unwrap_or_default();
    assert_eq!(
        message(
            &mut h,
            HeartbeatRequest {
                group_id: "".into(),
                ..join("a", &["t"])
            }
        ),
        "GroupId can't be empty."
    );
    assert_eq!(
        message(&mut h, join("", &["t"])),
        "MemberId can't be empty."
    );
    assert_eq!(
        message(
            &mut h,
            HeartbeatRequest {
                rebalance_timeout_ms: -1,
                ..join("a", &["t"])
            }
        ),
        "RebalanceTimeoutMs must be provided in first request."
    );
    assert_eq!(
        message(
            &mut h,
            HeartbeatRequest {
                owned: Some(parts("t", &[0])),
                ..join("a", &["t"])
            }
        ),
        "TopicPartitions must be empty when (re-)joining."
    );
    assert_eq!(
        message(
            &mut h,
            HeartbeatRequest {
                subscribed_topic_names: None,
                ..join("a", &["t"])
            }
        ),
        "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
    );
    assert_eq!(
        message(&mut h, beat("a", -3, &Assignment::new())),
        "MemberEpoch is invalid."
    );
    assert_eq!(
        message(&mut h, beat("a", -2, &Assignment::new())),
        "InstanceId can't be null."
    );
    let e = h
        .hb(HeartbeatRequest {
            server_assignor: Some("sticky".into()),
            ..join("a", &["t"])
        })
        .unwrap_err();
    assert_eq!(e.code, ResponseError::UnsupportedAssignor);
    assert_eq!(
        e.message.unwrap(),
        "ServerAssignor sticky is not supported. Supported assignors: uniform, range."
    );
    let e = h
        .hb(HeartbeatRequest {
            subscribed_topic_regex: Some("orders-[".into()),
            ..join("a", &[])
        })
        .unwrap_err();
    assert_eq!(e.code, ResponseError::InvalidRegularExpression);
    // v0: the coordinator names the member.
    let r = h
        .hb(HeartbeatRequest {
            member_id_required: false,
            ..join("", &["t"])
        })
        .unwrap();
    assert_eq!(r.member_id, "generated");
}

#[test]
fn a_full_group_refuses_new_members_only() {
    let mut h = Harness::new(&[("t", 1)]);
    h.m.config.max_size = 1;
    h.hb(join("a", &["t"])).unwrap();
    let e = h.hb(join("b", &["t"])).unwrap_err();
    assert_eq!(e.code, ResponseError::GroupMaxSizeReached);
    assert_eq!(
        e.message.unwrap(),
        "The consumer group has reached its maximum capacity of 1 members."
    );
    assert!(h.hb(beat("a", 1, &parts("t", &[0]))).is_ok());
}

#[test]
fn static_members_keep_their_partitions_across_a_restart() {
    let mut h = Harness::new(&[("t", 2)]);
    let static_join = |m: &str| HeartbeatRequest {
        instance_id: Some("i1".into()),
        ..join(m, &["t"])
    };
    h.hb(static_join("a")).unwrap();
    h.hb(join("b", &["t"])).unwrap();
    let kept = h
        .hb(HeartbeatRequest {
            instance_id: Some("i1".into()),
            ..beat("a", 1, &parts("t", &[0, 1]))
        })
        .unwrap()
        .assignment
        .unwrap();
    h.hb(HeartbeatRequest {
        instance_id: Some("i1".into()),
        ..beat("a", 1, &kept)
    })
    .unwrap();
    h.hb(beat("b", 2, &Assignment::new())).unwrap();
    // A new process with the same instance id cannot join while the old one is there.
    assert_eq!(
        h.code(static_join("a2")),
        ResponseError::UnreleasedInstanceId
    );
    // The wrong member id for the instance is fenced.
    assert_eq!(
        h.code(HeartbeatRequest {
            instance_id: Some("i1".into()),
            ..beat("zz", 2, &kept)
        }),
        ResponseError::FencedInstanceId
    );
    // Leaving for now (-2) keeps the partitions and bumps nothing.
    let epoch = h.group().group_epoch;
    let r = h
        .hb(HeartbeatRequest {
            instance_id: Some("i1".into()),
            ..beat("a", -2, &kept)
        })
        .unwrap();
    assert_eq!(r.member_epoch, -2);
    assert_eq!(h.group().group_epoch, epoch);
    assert_eq!(h.group().members["a"].current.assigned, kept);
    // The restarted instance takes over at once, with the same partitions.
    let r = h.hb(static_join("a2")).unwrap();
    assert_eq!(r.assignment, Some(kept.clone()));
    assert!(!h.group().members.contains_key("a"));
    assert_eq!(h.group().members["a2"].current.state, MemberState::Stable);
    h.assert_exclusive();
}

#[test]
fn regex_subscriptions_pick_up_new_topics() {
    let mut h = Harness::new(&[("orders-eu", 1), ("other", 1)]);
    let r = h
        .hb(HeartbeatRequest {
            subscribed_topic_names: None,
            subscribed_topic_regex: Some("orders-.*".into()),
            ..join("a", &[])
        })
        .unwrap();
    assert_eq!(r.assignment, Some(parts("orders-eu", &[0])));
    h.topics = image(&[("orders-eu", 1), ("other", 1), ("orders-us", 2)]);
    let r = h.hb(beat("a", 1, &parts("orders-eu", &[0]))).unwrap();
    assert_eq!(r.member_epoch, 2);
    let mut expected = parts("orders-eu", &[0]);
    expected.extend(parts("orders-us", &[0, 1]));
    assert_eq!(r.assignment, Some(expected));
}

fn names(topics: &[&str]) -> Option<BTreeSet<String>> {
    Some(topics.iter().map(|t| t.to_string()).collect())
}

fn regex_join(member: &str, regex: &str, describable: &[&str]) -> HeartbeatRequest {
    HeartbeatRequest {
        subscribed_topic_names: None,
        subscribed_topic_regex: Some(regex.into()),
        describable_topics: names(describable),
        ..join(member, &[])
    }
}

/// Kafka's filterTopicDescribeAuthorizedTopics: a regex resolves only to the topics the
/// member may describe, and a grant or a revocation moves at its next heartbeat.
#[test]
fn a_regex_resolves_only_to_topics_the_member_may_describe() {
    let mut h = Harness::new(&[("t-read", 1), ("t-hidden", 1), ("other", 1)]);
    let r = h.hb(regex_join("a", "t-.*", &["t-read"])).unwrap();
    assert_eq!(r.assignment, Some(parts("t-read", &[0])));
    assert!(!h.group().subscription_metadata.contains_key("t-hidden"));

    // Granted: the next heartbeat rebalances and brings t-hidden.
    let r = h
        .hb(HeartbeatRequest {
            describable_topics: names(&["t-read", "t-hidden"]),
            ..beat("a", 1, &parts("t-read", &[0]))
        })
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    let mut both = parts("t-read", &[0]);
    both.extend(parts("t-hidden", &[0]));
    assert_eq!(r.assignment, Some(both.clone()));

    // The same set again changes nothing.
    let r = h
        .hb(HeartbeatRequest {
            describable_topics: names(&["t-read", "t-hidden"]),
            ..beat("a", 2, &both)
        })
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, None));

    // Revoked: t-hidden leaves the target and the member gives it up.
    let r = h
        .hb(HeartbeatRequest {
            describable_topics: names(&["t-read"]),
            ..beat("a", 2, &both)
        })
        .unwrap();
    assert_eq!(h.group().target["a"], parts("t-read", &[0]));
    assert_eq!(r.assignment, Some(parts("t-read", &[0])));
    assert!(!h.group().subscription_metadata.contains_key("t-hidden"));
}

/// Each member's own authorization decides what its regex brings it: a member that may
/// describe t-hidden gets it, one beside it with the same regex that may not never does.
#[test]
fn members_with_the_same_regex_each_get_what_they_may_describe() {
    let mut h = Harness::new(&[("t-read", 2), ("t-hidden", 2)]);
    h.hb(regex_join("a", "t-.*", &["t-read"])).unwrap();
    h.hb(regex_join("b", "t-.*", &["t-read", "t-hidden"]))
        .unwrap();
    let hidden = topic_id("t-hidden");
    assert!(!h.group().target["a"].contains_key(&hidden));
    assert_eq!(h.group().target["b"][&hidden], BTreeSet::from([0, 1]));
    h.assert_exclusive();
}

/// The sets are in memory only: after a restart, with an authorizer, a regex member not heard
/// from yet keeps to its target when another member's heartbeat recomputes the group, and its
/// own next heartbeat brings its set.
#[test]
fn after_a_restart_a_regex_member_keeps_to_its_target_until_it_heartbeats() {
    let config = ConsumerGroupConfig {
        regex_needs_describe: true,
        ..ConsumerGroupConfig::default()
    };
    let mut h = Harness::new(&[("t-read", 1), ("t-hidden", 1), ("u", 1)]);
    h.m = ConsumerGroupManager::new(config.clone());
    h.hb(regex_join("a", "t-.*", &["t-read"])).unwrap();
    let mut restarted = ConsumerGroupManager::new(config);
    for r in &h.log {
        let (mut key, value) = r.encode();
        let kind = bytes::Buf::get_i16(&mut key);
        restarted.replay(ConsumerRecord::decode(kind, key, value).unwrap());
    }
    restarted.on_loaded(0);
    h.m = restarted;
    h.topics = image(&[("t-read", 1), ("t-hidden", 1), ("u", 1), ("t-new", 1)]);
    h.hb(join("b", &["u"])).unwrap();
    assert_eq!(h.group().target["a"], parts("t-read", &[0]));
    let r = h
        .hb(HeartbeatRequest {
            describable_topics: names(&["t-read", "t-new"]),
            ..beat("a", 1, &parts("t-read", &[0]))
        })
        .unwrap();
    let mut expected = parts("t-read", &[0]);
    expected.extend(parts("t-new", &[0]));
    assert_eq!(r.assignment, Some(expected));
}

#[test]
fn added_partitions_and_deleted_topics_change_the_target() {
    let mut h = Harness::new(&[("t", 1), ("u", 1)]);
    h.hb(join("a", &["t", "u"])).unwrap();
    h.topics = image(&[("t", 3), ("u", 1)]);
    let r = h.hb(beat("a", 1, &parts("t", &[0]))).unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(partition_count(&r.assignment.unwrap()), 4);
    h.topics = image(&[("t", 3)]);
    let mut owned = parts("t", &[0, 1, 2]);
    owned.extend(parts("u", &[0]));
    let r = h.hb(beat("a", 2, &owned)).unwrap();
    assert_eq!(r.assignment, Some(parts("t", &[0, 1, 2])));
}

#[test]
fn the_range_assignor_can_be_chosen_by_members() {
    let mut h = Harness::new(&[("t", 4)]);
    let range = |m: &str| HeartbeatRequest {
        server_assignor: Some("range".into()),
        ..join(m, &["t"])
    };
    h.hb(range("a")).unwrap();
    h.hb(range("b")).unwrap();
    assert_eq!(h.group().target["a"], parts("t", &[0, 1]));
    assert_eq!(h.group().target["b"], parts("t", &[2, 3]));
}

#[test]
fn replaying_the_records_restores_groups_members_and_epochs() {
    let mut h = Harness::new(&[("t", 3)]);
    h.hb(join("a", &["t"])).unwrap();
    h.hb(join("b", &["t"])).unwrap();
    h.hb(beat("a", 1, &parts("t", &[0, 1, 2]))).unwrap();
    let mut restarted = ConsumerGroupManager::new(ConsumerGroupConfig::default());
    for r in &h.log {
        let (mut key, value) = r.encode();
        let kind = bytes::Buf::get_i16(&mut key);
        restarted.replay(ConsumerRecord::decode(kind, key, value).unwrap());
    }
    assert_eq!(restarted.groups, h.m.groups);
    restarted.on_loaded(0);
    // a must still revoke: its rebalance timeout runs again, before any session's.
    assert_eq!(
        restarted.groups["g"].members["a"].current.state,
        MemberState::UnrevokedPartitions
    );
    assert_eq!(restarted.next_deadline(), Some(10_000));
    // Deleting the group: its tombstones leave nothing behind.
    for r in h.m.delete_group_records("g") {
        restarted.replay(r);
    }
    assert!(restarted.groups.is_empty());
}

/// A simulated consumer.
#[derive(Debug, Clone, Default)]
struct Client {
    /// Its member id: the same for the life of the process (KIP-1082); a static member
    /// that comes back is a new process with a new id and the same instance id.
    member_id: String,
    /// `group.instance.id` of a static member.
    instance: Option<String>,
    joined: bool,
    epoch: i32,
    /// What the client consumes from.
    owned: Assignment,
    /// The last assignment it was given.
    latest: Assignment,
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(usize),
    /// A static member leaves for now (epoch -2), keeping its partitions for its return.
    StaticLeave(usize),
    /// A heartbeat; a lazy one still reports partitions it was told to give up.
    Heartbeat(usize, bool),
    Subscribe(usize, bool),
    AddPartition(bool),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0usize..4).prop_map(Op::Join),
        1 => (0usize..4).prop_map(Op::Leave),
        1 => (0usize..4).prop_map(Op::StaticLeave),
        6 => (0usize..4, any::<bool>()).prop_map(|(m, c)| Op::Heartbeat(m, c)),
        1 => (0usize..4, any::<bool>()).prop_map(|(m, both)| Op::Subscribe(m, both)),
        1 => any::<bool>().prop_map(Op::AddPartition),
        2 => (0i64..20_000).prop_map(Op::Advance),
    ]
}

fn heartbeat(
    h: &mut Harness,
    clients: &mut [Client],
    i: usize,
    cooperate: bool,
    names: Option<Vec<String>>,
) {
    let c = &mut clients[i];
    let id = c.member_id.clone();
    if cooperate {
        c.owned = c.latest.clone();
    }
    let req = if c.joined {
        HeartbeatRequest {
            subscribed_topic_names: names,
            instance_id: c.instance.clone(),
            ..beat(&id, c.epoch, &c.owned)
        }
    } else {
        c.owned.clear();
        c.latest.clear();
        let names = names.unwrap_or_else(|| vec!["t".into()]);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        HeartbeatRequest {
            instance_id: c.instance.clone(),
            ..join(&id, &names)
        }
    };
    match h.hb(req) {
        Ok(r) => {
            c.joined = true;
            c.epoch = r.member_epoch;
            if let Some(a) = r.assignment {
                for (t, ps) in &a {
                    c.owned.entry(*t).or_default().extend(ps.iter().copied());
                }
                c.latest = a;
            }
        }
        Err(e) => {
            assert!(
                matches!(
                    e.code,
                    ResponseError::FencedMemberEpoch | ResponseError::UnknownMemberId
                ),
                "{e:?}"
            );
            *c = c.rejoining();
        }
    }
}

impl Client {
    /// Clients 2 and 3 are static members.
    fn new(i: usize) -> Client {
        Client {
            member_id: format!("m{i}.0"),
            instance: (i >= 2).then(|| format!("i{i}")),
            ..Client::default()
        }
    }

    /// The same process, out of the group, joining again with its member id.
    fn rejoining(&self) -> Client {
        Client {
            member_id: self.member_id.clone(),
            instance: self.instance.clone(),
            ..Client::default()
        }
    }

    /// A new process of the same static member: a new member id, the same instance id.
    fn restarted(&self) -> Client {
        let (base, n) = self.member_id.split_once('.').unwrap();
        let n: u32 = n.parse().unwrap();
        Client {
            member_id: format!("{base}.{}", n + 1),
            ..self.rejoining()
        }
    }
}

/// Members the coordinator knows never hold a partition twice, and what clients it knows
/// consume never overlaps.
fn check_safety(h: &Harness, clients: &[Client]) {
    h.assert_exclusive();
    let Some(g) = h.m.groups.get("g") else { return };
    let mut seen = BTreeMap::new();
    for (i, c) in clients.iter().enumerate() {
        if !c.joined || !g.members.contains_key(&c.member_id) {
            continue;
        }
        for (t, ps) in &c.owned {
            for p in ps {
                if let Some(other) = seen.insert((*t, *p), i) {
                    panic!("m{other} and m{i} both consume {t} {p}: {clients:?} {g:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn no_partition_has_two_owners_and_cooperating_members_converge(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new(&[("t", 3), ("u", 2)]);
        let mut clients: Vec<Client> = (0..4).map(Client::new).collect();
        let mut counts = [3, 2];
        for op in ops {
            match op {
                Op::Join(i) if !clients[i].joined => heartbeat(&mut h, &mut clients, i, true, None),
                Op::Join(_) => {}
                Op::Leave(i) if clients[i].joined => {
                    let _ = h.hb(HeartbeatRequest {
                        instance_id: clients[i].instance.clone(),
                        ..beat(&clients[i].member_id, -1, &Assignment::new())
                    });
                    clients[i] = clients[i].restarted();
                }
                Op::Leave(_) => {}
                Op::StaticLeave(i) if clients[i].joined && clients[i].instance.is_some() => {
                    let _ = h.hb(HeartbeatRequest {
                        instance_id: clients[i].instance.clone(),
                        ..beat(&clients[i].member_id, -2, &Assignment::new())
                    });
                    clients[i] = clients[i].restarted();
                }
                Op::StaticLeave(_) => {}
                Op::Heartbeat(i, cooperate) => {
                    if clients[i].joined {
                        heartbeat(&mut h, &mut clients, i, cooperate, None);
                    }
                }
                Op::Subscribe(i, both) => {
                    if clients[i].joined {
                        let names = if both { vec!["t".into(), "u".into()] } else { vec!["t".into()] };
                        heartbeat(&mut h, &mut clients, i, true, Some(names));
                    }
                }
                Op::AddPartition(first) => {
                    counts[usize::from(!first)] += 1;
                    h.topics = image(&[("t", counts[0]), ("u", counts[1])]);
                }
                Op::Advance(ms) => {
                    h.advance(ms);
                    // A member the coordinator fenced finds out at its next heartbeat.
                }
            }
            check_safety(&h, &clients);
        }
        // Everyone cooperates, heartbeating well within the session timeout.
        // Static members that left for now come back.
        for _ in 0..12 {
            for i in 0..clients.len() {
                if clients[i].joined || clients[i].instance.is_some() {
                    heartbeat(&mut h, &mut clients, i, true, None);
                    check_safety(&h, &clients);
                }
            }
            h.advance(1_000);
        }
        if let Some(g) = h.m.groups.get("g") {
            prop_assert!(
                matches!(g.state(), ConsumerGroupState::Stable | ConsumerGroupState::Empty),
                "{:?}", g
            );
            for (id, m) in &g.members {
                let target = g.target.get(id).cloned().unwrap_or_default();
                prop_assert_eq!(&m.current.assigned, &target);
                let client = clients.iter().find(|c| &c.member_id == id);
                prop_assert!(client.is_some_and(|c| c.joined), "{} is no live client: {:?}", id, g);
                prop_assert_eq!(&client.unwrap().owned, &target);
            }
        }
    }
}

mod coordinator {
    //! The consumer group through `GroupCoordinator`: offsets, listing, describing, deleting,
    //! classic/consumer conflicts and the snapshot.
    use gregor_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use gregor_protocol::messages::{
        ConsumerGroupDescribeRequest, GroupId, ListGroupsRequest, OffsetCommitRequest, TopicName,
    };
    use gregor_protocol::{ResponseError, StrBytes};

    use super::{beat, image, join, parts};
    use crate::coordinator::group::snapshot::GroupKind;
    use crate::coordinator::group::topics::TopicSource;
    use crate::coordinator::group::Assignment;
    use crate::coordinator::{CoordinatorConfig, GroupCoordinator};

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_string())
    }

    fn coordinator() -> GroupCoordinator {
        GroupCoordinator::new(CoordinatorConfig {
            topics: TopicSource::new(|| image(&[("t", 2)])),
            ..CoordinatorConfig::default()
        })
    }

    fn heartbeat(c: &mut GroupCoordinator, req: super::HeartbeatRequest) -> (i16, i32) {
        let (response, records) = c.consumer_group_heartbeat(0, &req);
        c.apply(records);
        (response.error_code, response.member_epoch)
    }

    fn commit(c: &GroupCoordinator, member: &str, epoch: i32, version: i16) -> i16 {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)])]);
        c.commit_offsets(0, version, &req).0.topics[0].partitions[0].error_code
    }

    #[test]
    fn a_consumer_group_reports_joins_targets_and_each_reconciliation_step() {
        use crate::coordinator::group_events::GroupEventKind as K;
        let mut c = coordinator();
        heartbeat(&mut c, join("a", &["t"]));
        let kinds = |c: &mut GroupCoordinator| -> Vec<K> {
            c.events.take(0).into_iter().map(|e| e.kind).collect()
        };
        let first = kinds(&mut c);
        assert!(matches!(&first[0], K::MemberJoined { member_id, .. } if member_id == "a"));
        assert!(matches!(&first[1], K::RebalanceStarted { reason } if reason.contains("a joined")));
        assert!(matches!(
            &first[2],
            K::TargetAssignment { group_epoch: 1, .. }
        ));
        assert!(
            matches!(&first[3], K::PartitionsAssigned { member_id, partitions, .. } if member_id == "a" && partitions[0].partitions == [0, 1])
        );
        // b joins: a must give one partition up before b gets it.
        heartbeat(&mut c, join("b", &["t"]));
        let second = kinds(&mut c);
        assert!(matches!(&second[0], K::MemberJoined { member_id, .. } if member_id == "b"));
        assert!(second
            .iter()
            .any(|k| matches!(k, K::TargetAssignment { group_epoch: 2, .. })));
        assert!(!second
            .iter()
            .any(|k| matches!(k, K::PartitionsAssigned { member_id, .. } if member_id == "b")));
        heartbeat(&mut c, beat("a", 1, &parts("t", &[0, 1])));
        let third = kinds(&mut c);
        assert!(
            third.iter().any(|k| matches!(k, K::PartitionsRevoked { member_id, partitions, .. } if member_id == "a" && partitions[0].partitions.len() == 1)),
            "{third:?}"
        );
    }

    #[test]
    fn offset_commits_check_the_member_epoch() {
        let mut c = coordinator();
        assert_eq!(heartbeat(&mut c, join("a", &["t"])), (0, 1));
        assert_eq!(commit(&c, "a", 1, 9), 0);
        assert_eq!(
            commit(&c, "a", 0, 9),
            ResponseError::StaleMemberEpoch.code()
        );
        assert_eq!(
            commit(&c, "zz", 1, 9),
            ResponseError::UnknownMemberId.code()
        );
        assert_eq!(
            commit(&c, "a", 1, 8),
            ResponseError::UnsupportedVersion.code()
        );
        assert_eq!(
            commit(&c, "", -1, 9),
            ResponseError::UnknownMemberId.code(),
            "not while it has members"
        );
        heartbeat(&mut c, beat("a", -1, &Assignment::new()));
        assert_eq!(
            commit(&c, "", -1, 9),
            0,
            "an admin commit to the empty group"
        );
    }

    #[test]
    fn groups_are_listed_described_and_deleted_by_kind() {
        let mut c = coordinator();
        heartbeat(&mut c, join("a", &["t"]));
        let listed = c.list_groups(&ListGroupsRequest::default());
        let g = &listed.groups[0];
        assert_eq!(
            (
                g.group_type.as_str(),
                g.protocol_type.as_str(),
                g.group_state.as_str()
            ),
            ("consumer", "consumer", "Stable")
        );
        let classic_only =
            c.list_groups(&ListGroupsRequest::default().with_types_filter(vec![s("classic")]));
        assert!(classic_only.groups.is_empty());
        let described = c.describe_groups(&[GroupId(s("g"))], 6, false);
        assert_eq!(
            described.groups[0].error_code,
            ResponseError::GroupIdNotFound.code()
        );
        let d = c.consumer_group_describe(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g"))]),
        );
        let g = &d.groups[0];
        assert_eq!(
            (
                g.error_code,
                g.group_epoch,
                g.assignment_epoch,
                g.assignor_name.as_str()
            ),
            (0, 1, 1, "uniform")
        );
        assert_eq!(
            g.members[0].assignment.topic_partitions[0]
                .topic_name
                .as_str(),
            "t"
        );
        // Not while it has members; then the group and its offsets go.
        let (r, _) = c.delete_groups(&[GroupId(s("g"))]);
        assert_eq!(r.results[0].error_code, ResponseError::NonEmptyGroup.code());
        heartbeat(&mut c, beat("a", -1, &Assignment::new()));
        let (r, records) = c.delete_groups(&[GroupId(s("g"))]);
        assert_eq!(r.results[0].error_code, 0);
        c.apply(records);
        assert!(c.consumer.groups.is_empty() && c.groups.is_empty());
    }

    #[test]
    fn a_group_has_one_kind_at_a_time() {
        use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
        use gregor_protocol::messages::JoinGroupRequest;
        // As with `group.consumer.migration.policy=disabled` (migration_tests has the others).
        let mut c = coordinator();
        c.config.consumer.migration_policy =
            crate::coordinator::group::migration::MigrationPolicy::Disabled;
        heartbeat(&mut c, join("a", &["t"]));
        let join_classic = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(10_000)
            .with_member_id(s(""))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(s("range"))
            ]);
        let replies = c.join_group(0, 1, 9, &join_classic, "c", "/h");
        let crate::coordinator::Response::Join(r) = &replies[0].response else {
            panic!()
        };
        assert_eq!(
            r.error_code,
            ResponseError::InconsistentGroupProtocol.code()
        );
        // A classic group with members refuses consumer-protocol members.
        let replies = c.join_group(
            0,
            2,
            9,
            &join_classic.clone().with_group_id(GroupId(s("classic"))),
            "c",
            "/h",
        );
        let crate::coordinator::Response::Join(r) = &replies[0].response else {
            panic!()
        };
        let id = r.member_id.to_string();
        c.join_group(
            0,
            3,
            9,
            &join_classic
                .clone()
                .with_group_id(GroupId(s("classic")))
                .with_member_id(s(&id)),
            "c",
            "/h",
        );
        let req = super::HeartbeatRequest {
            group_id: "classic".into(),
            ..join("x", &["t"])
        };
        assert_eq!(
            heartbeat(&mut c, req).0,
            ResponseError::GroupIdNotFound.code()
        );
        // An empty classic group (offsets only) becomes a consumer group.
        assert_eq!(commit(&c, "", -1, 9), ResponseError::UnknownMemberId.code());
        let mut c = coordinator();
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default().with_committed_offset(3)
                ])]);
        let (_, records) = c.commit_offsets(0, 9, &req);
        c.apply(records);
        assert!(c.groups.contains_key("g"));
        assert_eq!(heartbeat(&mut c, join("a", &["t"])), (0, 1));
        assert!(!c.groups.contains_key("g") && c.consumer.groups.contains_key("g"));
        assert_eq!(
            c.offsets.get("g", "t", 0).map(|o| o.offset),
            Some(3),
            "offsets stay"
        );
    }

    #[test]
    fn the_snapshot_shows_every_group() {
        let mut c = coordinator();
        heartbeat(&mut c, join("a", &["t"]));
        let snap = c.snapshot(&image(&[("t", 2)]));
        assert_eq!(snap.len(), 1);
        let g = &snap[0];
        assert_eq!(
            (g.kind, g.state, g.group_epoch, g.assignment_epoch),
            (GroupKind::Consumer, "Stable", 1, Some(1))
        );
        let m = &g.members[0];
        assert_eq!(
            (m.member_id.as_str(), m.client_id.as_str(), m.epoch, m.state),
            ("a", "client", 1, Some("STABLE"))
        );
        assert_eq!(m.subscribed_topics, vec!["t".to_string()]);
        assert_eq!(m.assigned, m.target);
        assert_eq!(m.assigned[0].partitions, vec![0, 1]);
        let _ = parts("t", &[0]);
    }
}

#[test]
fn offset_fetches_check_the_member_epoch() {
    let mut h = Harness::new(&[("t", 1)]);
    h.hb(join("a", &["t"])).unwrap();
    let g = h.group();
    let check = |member: Option<&str>, epoch| {
        h.m.validate_offset_fetch(g, member, epoch)
            .map_err(|e| e.code)
    };
    assert_eq!(check(None, -1), Ok(()), "an admin client's fetch");
    assert_eq!(check(Some("a"), 1), Ok(()));
    assert_eq!(check(Some("a"), 0), Err(ResponseError::StaleMemberEpoch));
    assert_eq!(check(Some("zz"), 1), Err(ResponseError::UnknownMemberId));
}

#[test]
fn a_static_member_that_does_not_come_back_goes_at_its_session_timeout() {
    let mut h = Harness::new(&[("t", 2)]);
    let static_req = |req: HeartbeatRequest| HeartbeatRequest {
        instance_id: Some("i1".into()),
        ..req
    };
    h.hb(static_req(join("a", &["t"]))).unwrap();
    h.hb(join("b", &["t"])).unwrap();
    h.hb(static_req(beat("a", -2, &parts("t", &[0, 1]))))
        .unwrap();
    // Its partitions stay with it while it may come back: b gets nothing yet.
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    assert_eq!(r.assignment, None);
    h.advance(30_000);
    h.hb(beat("b", 2, &Assignment::new())).unwrap();
    h.advance(15_000);
    assert!(!h.group().members.contains_key("a"));
    let r = h.hb(beat("b", 2, &Assignment::new())).unwrap();
    assert_eq!(r.assignment, Some(parts("t", &[0, 1])));
    h.assert_exclusive();
}
