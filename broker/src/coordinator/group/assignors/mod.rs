//! The server-side assignors a consumer group picks from (`group.consumer.assignors`, and each
//! member's `group.remote.assignor`); Kafka's ConsumerGroupPartitionAssignor implementations.
//! Both are sticky: a member keeps what its current target gives it wherever balance allows.

pub mod range;
pub mod uniform;

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Assignment;

/// What the assignor knows of a member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// The subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
    /// Its target assignment so far (what stickiness keeps).
    pub current: Assignment,
}

/// A server-side assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Kafka's `uniform`: partitions spread evenly over the members that subscribe to them.
    Uniform,
    /// Kafka's `range`: per topic, contiguous ranges in member id order (co-partitioning).
    Range,
}

impl Assignor {
    /// The name clients and the config use.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    /// The assignor called `name`: the short name, or Kafka's class name in
    /// `group.consumer.assignors`.
    pub fn from_name(name: &str) -> Option<Assignor> {
        match name.trim() {
            "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => {
                Some(Assignor::Uniform)
            }
            "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => {
                Some(Assignor::Range)
            }
            _ => None,
        }
    }

    /// Each member's new target: every partition of `partitions` (topic id to count) that some
    /// member subscribes to goes to exactly one subscriber.
    pub fn assign(
        self,
        members: &BTreeMap<String, MemberSpec>,
        partitions: &BTreeMap<Uuid, i32>,
    ) -> BTreeMap<String, Assignment> {
        let result = match self {
            Assignor::Uniform => uniform::assign(members, partitions),
            Assignor::Range => range::assign(members, partitions),
        };
        result
            .into_iter()
            .map(|(m, a)| (m, super::normalized(a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn spec(topics: &[u128], current: Assignment) -> MemberSpec {
        MemberSpec {
            topics: topics.iter().map(|n| t(*n)).collect(),
            current,
        }
    }

    /// Every subscribed partition once, each to a subscriber.
    fn check_complete(
        members: &BTreeMap<String, MemberSpec>,
        partitions: &BTreeMap<Uuid, i32>,
        result: &BTreeMap<String, Assignment>,
    ) -> Result<(), TestCaseError> {
        let mut seen = BTreeSet::new();
        for (m, a) in result {
            for (topic, ps) in a {
                prop_assert!(members[m].topics.contains(topic));
                for p in ps {
                    prop_assert!(*p >= 0 && *p < partitions[topic]);
                    prop_assert!(seen.insert((*topic, *p)), "{:?} twice", (topic, p));
                }
            }
        }
        for (topic, n) in partitions {
            if members.values().any(|s| s.topics.contains(topic)) {
                for p in 0..*n {
                    prop_assert!(seen.contains(&(*topic, p)), "{topic} {p} unassigned");
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn every_partition_goes_to_one_subscriber(
            subs in proptest::collection::vec(proptest::collection::btree_set(0u128..4, 0..4), 1..6),
            counts in proptest::collection::vec(0i32..7, 4),
            range in any::<bool>(),
        ) {
            let partitions: BTreeMap<Uuid, i32> = counts.iter().enumerate().map(|(i, n)| (t(i as u128), *n)).collect();
            let members: BTreeMap<String, MemberSpec> = subs.iter().enumerate()
                .map(|(i, s)| (format!("m{i}"), spec(&s.iter().copied().collect::<Vec<_>>(), Assignment::new())))
                .collect();
            let assignor = if range { Assignor::Range } else { Assignor::Uniform };
            let first = assignor.assign(&members, &partitions);
            check_complete(&members, &partitions, &first)?;
            // Again from the first result: still complete, and unchanged (sticky).
            let again: BTreeMap<String, MemberSpec> = members.iter()
                .map(|(m, s)| (m.clone(), MemberSpec { topics: s.topics.clone(), current: first.get(m).cloned().unwrap_or_default() }))
                .collect();
            let second = assignor.assign(&again, &partitions);
            check_complete(&again, &partitions, &second)?;
            prop_assert_eq!(first, second);
        }

        #[test]
        fn uniform_balances_a_homogeneous_group(members in 1usize..6, count in 0i32..20) {
            let partitions: BTreeMap<Uuid, i32> = [(t(1), count)].into();
            let specs: BTreeMap<String, MemberSpec> = (0..members).map(|i| (format!("m{i}"), spec(&[1], Assignment::new()))).collect();
            let result = Assignor::Uniform.assign(&specs, &partitions);
            let sizes: Vec<usize> = specs.keys().map(|m| result.get(m).map_or(0, super::super::partition_count)).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(max - min <= 1, "{sizes:?}");
        }
    }

    #[test]
    fn names_and_class_names() {
        assert_eq!(Assignor::from_name("uniform"), Some(Assignor::Uniform));
        assert_eq!(
            Assignor::from_name("org.apache.kafka.coordinator.group.assignor.RangeAssignor"),
            Some(Assignor::Range)
        );
        assert_eq!(Assignor::from_name("sticky"), None);
    }
}
