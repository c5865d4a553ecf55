//! One member's step towards its target assignment; Kafka's CurrentAssignmentBuilder.
//!
//! Member states, as Kafka documents them (`MemberState`):
//! - `Stable`: the member owns what it was assigned at its epoch. To UnrevokedPartitions when a
//!   newer target takes partitions away, to UnreleasedPartitions when a newer target gives it
//!   partitions another member still holds, or stays Stable at the new epoch.
//! - `UnrevokedPartitions`: the member must give up `pending_revocation` first and stays at its
//!   epoch until its heartbeat no longer reports them (the rebalance timeout fences it if it
//!   never does). Then it moves on at epoch + 1.
//! - `UnreleasedPartitions`: at the target epoch, but some target partitions are still owned by
//!   another member; each heartbeat assigns those that were released meanwhile.
//!
//! Revoke before assign: a partition is given to a member only once no other member holds it,
//! as assigned or pending revocation, so no two members ever own one partition.

use uuid::Uuid;

use super::Assignment;

/// A member's reconciliation state (Kafka's `MemberState`, with its record values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns its assignment at its epoch.
    Stable,
    /// Must revoke partitions before it gets more.
    UnrevokedPartitions,
    /// Waits for partitions other members still own.
    UnreleasedPartitions,
    /// A state this coordinator does not know (written by a newer one): fenced on its next
    /// heartbeat unless it owns nothing.
    Unknown,
}

impl MemberState {
    /// The value in `ConsumerGroupCurrentMemberAssignmentValue.State`.
    pub fn value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    /// The state a record's value stands for.
    pub fn from_value(v: i8) -> MemberState {
        match v {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }

    /// Kafka's name, as the live view shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Stable => "STABLE",
            MemberState::UnrevokedPartitions => "UNREVOKED_PARTITIONS",
            MemberState::UnreleasedPartitions => "UNRELEASED_PARTITIONS",
            MemberState::Unknown => "UNKNOWN",
        }
    }
}

/// What a member owns and at which epoch (Kafka's `ConsumerGroupCurrentMemberAssignmentValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAssignment {
    /// The epoch the member must send.
    pub member_epoch: i32,
    /// The epoch before, accepted too in case the answer that bumped it was lost.
    pub previous_member_epoch: i32,
    /// Reconciliation state.
    pub state: MemberState,
    /// Partitions the member owns (or is being given).
    pub assigned: Assignment,
    /// Partitions the member must revoke.
    pub pending_revocation: Assignment,
}

impl Default for CurrentAssignment {
    fn default() -> Self {
        CurrentAssignment {
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }
}

/// The member was in a state this coordinator cannot reconcile from and still owns partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenced;

/// Whether `owned` (None: not reported, which counts as owning everything) holds any partition
/// of `partitions`.
fn owns_any(owned: Option<&Assignment>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(topic, ps)| {
        partitions
            .get(topic)
            .is_some_and(|pending| ps.iter().any(|p| pending.contains(p)))
    })
}

/// The member's next state towards `target` at `target_epoch`, given what it reported owning
/// and `held_elsewhere`: whether another member still holds a partition.
pub fn reconcile(
    current: &CurrentAssignment,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    held_elsewhere: impl Fn(Uuid, i32) -> bool,
) -> Result<CurrentAssignment, Fenced> {
    let next =
        |epoch: i32| next_assignment(current, epoch, target_epoch, target, owned, &held_elsewhere);
    match current.state {
        MemberState::Stable if current.member_epoch != target_epoch => {
            Ok(next(current.member_epoch))
        }
        MemberState::Stable => Ok(current.clone()),
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &current.pending_revocation) {
                Ok(current.clone())
            } else {
                Ok(next(current.member_epoch + 1))
            }
        }
        MemberState::UnreleasedPartitions => Ok(next(current.member_epoch)),
        MemberState::Unknown => {
            if owned.is_none_or(|o| !o.is_empty()) {
                return Err(Fenced);
            }
            Ok(next(target_epoch))
        }
    }
}

fn next_assignment(
    current: &CurrentAssignment,
    member_epoch: i32,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    held_elsewhere: &impl Fn(Uuid, i32) -> bool,
) -> CurrentAssignment {
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut to_assign = Assignment::new();
    let mut unreleased = false;
    let topics: std::collections::BTreeSet<Uuid> = target
        .keys()
        .chain(current.assigned.keys())
        .copied()
        .collect();
    let empty = Default::default();
    for topic in topics {
        let wanted = target.get(&topic).unwrap_or(&empty);
        let had = current.assigned.get(&topic).unwrap_or(&empty);
        let kept: std::collections::BTreeSet<i32> = had.intersection(wanted).copied().collect();
        let revoke: std::collections::BTreeSet<i32> = had.difference(&kept).copied().collect();
        let mut new: std::collections::BTreeSet<i32> = wanted.difference(&kept).copied().collect();
        let before = new.len();
        new.retain(|p| !held_elsewhere(topic, *p));
        unreleased |= new.len() != before;
        if !kept.is_empty() {
            assigned.insert(topic, kept);
        }
        if !revoke.is_empty() {
            revoking.insert(topic, revoke);
        }
        if !new.is_empty() {
            to_assign.insert(topic, new);
        }
    }
    let with_epoch = |state, epoch: i32, assigned, pending_revocation| CurrentAssignment {
        member_epoch: epoch,
        previous_member_epoch: current.member_epoch,
        state,
        assigned,
        pending_revocation,
    };
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        // Stays at its epoch until the client confirms the revocation.
        return with_epoch(
            MemberState::UnrevokedPartitions,
            member_epoch,
            assigned,
            revoking,
        );
    }
    for (topic, ps) in to_assign {
        assigned.entry(topic).or_default().extend(ps);
    }
    let state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    with_epoch(state, target_epoch, assigned, Assignment::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn a(parts: &[(u128, &[i32])]) -> Assignment {
        parts
            .iter()
            .map(|(topic, ps)| (t(*topic), ps.iter().copied().collect()))
            .collect()
    }

    fn stable(epoch: i32, assigned: Assignment) -> CurrentAssignment {
        CurrentAssignment {
            member_epoch: epoch,
            previous_member_epoch: epoch - 1,
            state: MemberState::Stable,
            assigned,
            pending_revocation: Assignment::new(),
        }
    }

    #[test]
    fn stable_member_at_the_target_epoch_stays() {
        let m = stable(3, a(&[(1, &[0, 1])]));
        assert_eq!(
            reconcile(&m, 3, &a(&[(1, &[0])]), None, |_, _| false),
            Ok(m)
        );
    }

    #[test]
    fn new_partitions_free_elsewhere_are_given_at_the_target_epoch() {
        let m = stable(3, a(&[(1, &[0])]));
        let next = reconcile(
            &m,
            4,
            &a(&[(1, &[0, 1])]),
            Some(&a(&[(1, &[0])])),
            |_, _| false,
        )
        .unwrap();
        assert_eq!(next.state, MemberState::Stable);
        assert_eq!((next.member_epoch, next.previous_member_epoch), (4, 3));
        assert_eq!(next.assigned, a(&[(1, &[0, 1])]));
    }

    #[test]
    fn partitions_to_revoke_hold_the_member_at_its_epoch_until_released() {
        let m = stable(3, a(&[(1, &[0, 1])]));
        let target = a(&[(1, &[0])]);
        let owned = a(&[(1, &[0, 1])]);
        let next = reconcile(&m, 4, &target, Some(&owned), |_, _| false).unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.assigned, a(&[(1, &[0])]));
        assert_eq!(next.pending_revocation, a(&[(1, &[1])]));
        // Still reporting partition 1: no progress.
        assert_eq!(
            reconcile(&next, 4, &target, Some(&owned), |_, _| false),
            Ok(next.clone())
        );
        // Not reported (None) counts as still owned.
        assert_eq!(
            reconcile(&next, 4, &target, None, |_, _| false),
            Ok(next.clone())
        );
        // Revoked: on to the target epoch.
        let done = reconcile(&next, 4, &target, Some(&a(&[(1, &[0])])), |_, _| false).unwrap();
        assert_eq!((done.state, done.member_epoch), (MemberState::Stable, 4));
        assert!(done.pending_revocation.is_empty());
    }

    #[test]
    fn a_member_that_already_dropped_revoked_partitions_skips_the_wait() {
        let m = stable(3, a(&[(1, &[0, 1])]));
        let next = reconcile(&m, 4, &a(&[(1, &[0])]), Some(&a(&[(1, &[0])])), |_, _| {
            false
        })
        .unwrap();
        assert_eq!((next.state, next.member_epoch), (MemberState::Stable, 4));
    }

    #[test]
    fn partitions_held_by_others_wait_as_unreleased() {
        let m = stable(3, Assignment::new());
        let target = a(&[(1, &[0, 1])]);
        let next = reconcile(&m, 4, &target, Some(&Assignment::new()), |_, p| p == 1).unwrap();
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.member_epoch, 4);
        assert_eq!(next.assigned, a(&[(1, &[0])]));
        let later = reconcile(&next, 4, &target, Some(&a(&[(1, &[0])])), |_, _| false).unwrap();
        assert_eq!(later.state, MemberState::Stable);
        assert_eq!(later.assigned, target);
    }

    #[test]
    fn an_unknown_state_fences_a_member_that_owns_partitions() {
        let mut m = stable(3, a(&[(1, &[0])]));
        m.state = MemberState::Unknown;
        assert_eq!(
            reconcile(&m, 4, &Assignment::new(), None, |_, _| false),
            Err(Fenced)
        );
        assert!(reconcile(
            &m,
            4,
            &Assignment::new(),
            Some(&Assignment::new()),
            |_, _| false
        )
        .is_ok());
    }
}
