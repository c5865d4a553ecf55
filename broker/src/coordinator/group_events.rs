//! What the group coordinator tells watchers happened, as plain values the state machine
//! returns (no channel, no tokio): members joining, leaving and timing out, rebalances and why,
//! each classic generation's assignment, each consumer-group member's reconciliation step, and
//! a summary of offset commits. Kafka has no counterpart; its coordinator writes the same
//! moments as INFO log lines ("Preparing to rebalance group ... (reason: ...)").
//!
//! Cheap by construction: membership and assignment events come from calls that change a
//! group anyway; consumer-group events are found by comparing the few groups a batch of records
//! touches before and after; commits are only counted, and summed into one event per group at
//! most once a second (`COMMIT_WINDOW_MS`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::group::consumer_group::ConsumerGroup;
use super::group::snapshot::TopicPartitions;
use super::group::topics::TopicImage;
use super::group::Assignment;

/// Commits of a group are summed over this long before they are reported.
pub const COMMIT_WINDOW_MS: i64 = 1_000;

/// One event of one group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupEvent {
    /// The group.
    pub group_id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: GroupEventKind,
}

/// A member and the partitions it is given.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberPartitions {
    /// Member id.
    pub member_id: String,
    /// Its partitions, by topic.
    pub partitions: Vec<TopicPartitions>,
}

/// What happened; serialized with a `type` field in snake case (`member_joined`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GroupEventKind {
    /// A member joined (or a static member came back under a new member id).
    MemberJoined {
        /// Member id.
        member_id: String,
        /// The client's `client.id`.
        client_id: String,
        /// The client's address.
        client_host: String,
        /// `group.instance.id` of a static member.
        instance_id: Option<String>,
    },
    /// A member left on its own (LeaveGroup, or a heartbeat with epoch -1).
    MemberLeft {
        /// Member id.
        member_id: String,
    },
    /// A member sent no heartbeat within its session timeout and was removed.
    SessionTimeout {
        /// Member id.
        member_id: String,
        /// The timeout that expired.
        session_timeout_ms: i64,
    },
    /// A member did not rejoin (classic) or revoke its partitions (consumer) within its
    /// rebalance timeout and was removed.
    RebalanceTimeout {
        /// Member id.
        member_id: String,
        /// The timeout that expired.
        rebalance_timeout_ms: i64,
    },
    /// The group started computing a new assignment.
    RebalanceStarted {
        /// Why, in plain words.
        reason: String,
    },
    /// A classic group's rebalance completed: the leader's assignment is written and handed out.
    GenerationCompleted {
        /// The new generation.
        generation: i32,
        /// The protocol (assignor) chosen.
        protocol: Option<String>,
        /// The member that computed the assignment.
        leader: Option<String>,
        /// Each member's partitions (empty when the assignment is not the consumer protocol's).
        assignment: Vec<MemberPartitions>,
    },
    /// A consumer group's coordinator computed a new target assignment (the KIP-848 analogue
    /// of a new generation); members then reconcile to it step by step.
    TargetAssignment {
        /// The group epoch the target is for.
        group_epoch: i32,
        /// The assignor that computed it.
        assignor: String,
        /// Each member's target.
        assignment: Vec<MemberPartitions>,
    },
    /// A consumer-group member gave up partitions (one reconciliation step).
    PartitionsRevoked {
        /// Member id.
        member_id: String,
        /// The member's epoch after the step.
        member_epoch: i32,
        /// The partitions it no longer owns.
        partitions: Vec<TopicPartitions>,
    },
    /// A consumer-group member received partitions (one reconciliation step).
    PartitionsAssigned {
        /// Member id.
        member_id: String,
        /// The member's epoch after the step.
        member_epoch: i32,
        /// The partitions it owns now that it did not before.
        partitions: Vec<TopicPartitions>,
    },
    /// Offsets were committed: a summary of one window.
    OffsetsCommitted {
        /// Partition offsets committed in the window.
        partitions: u64,
        /// The window's length.
        interval_ms: i64,
        /// `partitions` per second over the window.
        per_second: f64,
    },
}

/// Commits of one group not yet reported.
#[derive(Debug, Clone, Copy, Default)]
struct CommitWindow {
    /// Partition offsets committed.
    partitions: u64,
    /// When the window started (set at the first `take` after the first commit).
    started: Option<i64>,
}

/// The events the coordinator produced and has not handed out yet.
#[derive(Debug, Default)]
pub struct GroupEvents {
    /// Ready to hand out.
    ready: Vec<GroupEvent>,
    /// Commits counted per group, reported once their window is over.
    commits: BTreeMap<String, CommitWindow>,
    /// Groups whose window has no start yet (it starts at the next `take`).
    unstarted: Vec<String>,
    /// The started windows by when they end, so `take` and `next_deadline` look at the due
    /// ones only: with a thousand groups committing, scanning every window per event was a
    /// tenth of the coordinator's time.
    ends: std::collections::BTreeSet<(i64, String)>,
    /// Rebalances started per group since the broker started (for `/metrics`).
    rebalances: BTreeMap<String, u64>,
}

impl GroupEvents {
    /// Adds an event of `group_id`.
    pub fn push(&mut self, group_id: &str, kind: GroupEventKind) {
        if let GroupEventKind::RebalanceStarted { .. } = kind {
            match self.rebalances.get_mut(group_id) {
                Some(n) => *n += 1,
                None => {
                    self.rebalances.insert(group_id.to_string(), 1);
                }
            }
        }
        self.ready.push(GroupEvent {
            group_id: group_id.to_string(),
            kind,
        });
    }

    /// Counts `partitions` committed offsets of `group_id`.
    pub fn count_commits(&mut self, group_id: &str, partitions: u64) {
        match self.commits.get_mut(group_id) {
            Some(w) => w.partitions += partitions,
            None => {
                self.commits.insert(
                    group_id.to_string(),
                    CommitWindow {
                        partitions,
                        started: None,
                    },
                );
                self.unstarted.push(group_id.to_string());
            }
        }
    }

    /// The events due at `now`: every ready one, and a summary of each commit window that is
    /// over. A window starts at the first call after its first commit.
    pub fn take(&mut self, now: i64) -> Vec<GroupEvent> {
        for group in std::mem::take(&mut self.unstarted) {
            if let Some(w) = self.commits.get_mut(&group) {
                let started = *w.started.get_or_insert(now);
                self.ends.insert((started + COMMIT_WINDOW_MS, group));
            }
        }
        while let Some((end, _)) = self.ends.first() {
            if *end > now {
                break;
            }
            let (_, group) = self.ends.pop_first().expect("looked at");
            let Some(w) = self.commits.remove(&group) else {
                continue;
            };
            let interval_ms = now - w.started.unwrap_or(now);
            self.ready.push(GroupEvent {
                group_id: group,
                kind: GroupEventKind::OffsetsCommitted {
                    partitions: w.partitions,
                    interval_ms,
                    per_second: w.partitions as f64 * 1000.0 / interval_ms as f64,
                },
            });
        }
        std::mem::take(&mut self.ready)
    }

    /// When a commit window next ends.
    pub fn next_deadline(&self) -> Option<i64> {
        self.ends.first().map(|(end, _)| *end)
    }

    /// Drops everything (what loading the log produced).
    pub fn clear(&mut self) {
        self.ready.clear();
        self.commits.clear();
        self.unstarted.clear();
        self.ends.clear();
        self.rebalances.clear();
    }

    /// Rebalances `group_id` started since the broker started.
    pub fn rebalances(&self, group_id: &str) -> u64 {
        self.rebalances.get(group_id).copied().unwrap_or(0)
    }
}

/// What the events of a consumer group are computed from: its members, epochs and who owns
/// what, before and after a batch of records.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerView {
    group_epoch: i32,
    assignment_epoch: i32,
    /// Per member: (client id, host, instance id, epoch, assigned, rebalance timeout).
    members: BTreeMap<String, MemberView>,
    /// Subscribed topics (names), to tell why the epoch moved.
    subscribed: BTreeSet<String>,
    targets: BTreeMap<String, Assignment>,
}

#[derive(Debug, Clone, PartialEq)]
struct MemberView {
    client_id: String,
    client_host: String,
    instance_id: Option<String>,
    epoch: i32,
    assigned: Assignment,
    rebalance_timeout_ms: i64,
}

impl ConsumerView {
    /// The view of `group` (None: no such group).
    pub fn of(group: Option<&ConsumerGroup>) -> Option<ConsumerView> {
        let g = group?;
        Some(ConsumerView {
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            members: g
                .members
                .values()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        MemberView {
                            client_id: m.metadata.client_id.clone(),
                            client_host: m.metadata.client_host.clone(),
                            instance_id: m.metadata.instance_id.clone(),
                            epoch: m.current.member_epoch,
                            assigned: m.current.assigned.clone(),
                            rebalance_timeout_ms: i64::from(m.metadata.rebalance_timeout_ms),
                        },
                    )
                })
                .collect(),
            subscribed: g.subscription_metadata.keys().cloned().collect(),
            targets: g.target.clone(),
        })
    }

    /// A member's rebalance timeout, as the view knew it.
    pub fn rebalance_timeout_ms(&self, member_id: &str) -> Option<i64> {
        self.members.get(member_id).map(|m| m.rebalance_timeout_ms)
    }
}

/// Partitions in `a` and not in `b`, by topic name.
fn minus(a: &Assignment, b: &Assignment, topics: &TopicImage) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = a
        .iter()
        .filter_map(|(id, ps)| {
            let other = b.get(id);
            let left: Vec<i32> = ps
                .iter()
                .filter(|p| other.is_none_or(|o| !o.contains(p)))
                .copied()
                .collect();
            (!left.is_empty()).then(|| TopicPartitions {
                topic: topics
                    .by_id(*id)
                    .map_or_else(|| id.to_string(), |t| t.name.clone()),
                partitions: left,
            })
        })
        .collect();
    out.sort_by(|x, y| x.topic.cmp(&y.topic));
    out
}

/// An assignment as topic names and partitions.
pub fn named(a: &Assignment, topics: &TopicImage) -> Vec<TopicPartitions> {
    minus(a, &Assignment::new(), topics)
}

/// The events between two views of consumer group `group_id`. Members that disappeared are
/// reported as `gone` says (a timeout found by `tick`), else as having left.
pub fn consumer_events(
    group_id: &str,
    before: Option<&ConsumerView>,
    after: Option<&ConsumerView>,
    gone: &dyn Fn(&str) -> Option<GroupEventKind>,
    assignor: &dyn Fn() -> String,
    topics: &TopicImage,
    out: &mut GroupEvents,
) {
    let empty = BTreeMap::new();
    let members_before = before.map_or(&empty, |v| &v.members);
    let members_after = after.map_or(&empty, |v| &v.members);
    let mut joined = Vec::new();
    let mut left = Vec::new();
    for (id, m) in members_after {
        if !members_before.contains_key(id) {
            joined.push(id.clone());
            out.push(
                group_id,
                GroupEventKind::MemberJoined {
                    member_id: id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    instance_id: m.instance_id.clone(),
                },
            );
        }
    }
    for id in members_before.keys() {
        if !members_after.contains_key(id) {
            left.push(id.clone());
            let kind = gone(id).unwrap_or(GroupEventKind::MemberLeft {
                member_id: id.clone(),
            });
            out.push(group_id, kind);
        }
    }
    let epoch_before = before.map_or(0, |v| v.group_epoch);
    let Some(after) = after else { return };
    if after.group_epoch > epoch_before {
        let reason = if !joined.is_empty() {
            format!("member {} joined", joined.join(", "))
        } else if !left.is_empty() {
            format!("member {} is gone", left.join(", "))
        } else if before.is_some_and(|b| b.subscribed != after.subscribed) {
            "the topics the group subscribes to changed".to_string()
        } else {
            "a member's subscription changed".to_string()
        };
        out.push(group_id, GroupEventKind::RebalanceStarted { reason });
    }
    if after.assignment_epoch > before.map_or(0, |v| v.assignment_epoch)
        && !after.members.is_empty()
    {
        out.push(
            group_id,
            GroupEventKind::TargetAssignment {
                group_epoch: after.assignment_epoch,
                assignor: assignor(),
                assignment: after
                    .members
                    .keys()
                    .map(|id| MemberPartitions {
                        member_id: id.clone(),
                        partitions: after
                            .targets
                            .get(id)
                            .map(|a| named(a, topics))
                            .unwrap_or_default(),
                    })
                    .collect(),
            },
        );
    }
    let none = Assignment::new();
    for (id, m) in &after.members {
        let old = members_before.get(id).map_or(&none, |b| &b.assigned);
        let revoked = minus(old, &m.assigned, topics);
        if !revoked.is_empty() {
            out.push(
                group_id,
                GroupEventKind::PartitionsRevoked {
                    member_id: id.clone(),
                    member_epoch: m.epoch,
                    partitions: revoked,
                },
            );
        }
        let added = minus(&m.assigned, old, topics);
        if !added.is_empty() {
            out.push(
                group_id,
                GroupEventKind::PartitionsAssigned {
                    member_id: id.clone(),
                    member_epoch: m.epoch,
                    partitions: added,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_summed_per_window_not_reported_one_by_one() {
        let mut e = GroupEvents::default();
        e.count_commits("g", 3);
        assert!(e.take(100).is_empty(), "the window starts now");
        e.count_commits("g", 2);
        assert_eq!(e.next_deadline(), Some(1_100));
        assert!(e.take(600).is_empty());
        let out = e.take(1_100);
        assert_eq!(
            out,
            [GroupEvent {
                group_id: "g".into(),
                kind: GroupEventKind::OffsetsCommitted {
                    partitions: 5,
                    interval_ms: 1_000,
                    per_second: 5.0
                }
            }]
        );
        assert_eq!(e.next_deadline(), None);
    }

    #[test]
    fn events_serialize_with_a_type_field() {
        let e = GroupEvent {
            group_id: "g".into(),
            kind: GroupEventKind::SessionTimeout {
                member_id: "m".into(),
                session_timeout_ms: 6000,
            },
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"group_id": "g", "type": "session_timeout", "member_id": "m", "session_timeout_ms": 6000})
        );
    }
}
