//! Kafka's server-side `range` assignor (RangeAssignor): for each topic, the subscribed members
//! in member id order get contiguous ranges of `partitions / members`, the first
//! `partitions % members` one more, so members subscribed to co-partitioned topics get the same
//! partition numbers of each. Sticky as Kafka's: a member keeps its current partitions up to its
//! quota, and members already holding more than the base quota are the first to get the extra
//! partition.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::MemberSpec;
use crate::coordinator::group::Assignment;

/// The new targets.
pub fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let subs: Vec<&String> = members
            .iter()
            .filter(|(_, s)| s.topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if subs.is_empty() || count <= 0 {
            continue;
        }
        let count = count as usize;
        let base = count / subs.len();
        let mut extras = count % subs.len();
        let current = |m: &String| -> BTreeSet<i32> {
            members[m]
                .current
                .get(topic)
                .map(|ps| {
                    ps.iter()
                        .copied()
                        .filter(|p| (*p as usize) < count)
                        .collect()
                })
                .unwrap_or_default()
        };
        // Quotas: the extra partitions first to members that already hold more than the base.
        let mut quota: BTreeMap<&String, usize> = subs.iter().map(|m| (*m, base)).collect();
        for m in &subs {
            if extras > 0 && current(m).len() > base {
                *quota.get_mut(m).expect("subscriber") += 1;
                extras -= 1;
            }
        }
        for m in &subs {
            if extras > 0 && quota[m] == base {
                *quota.get_mut(m).expect("subscriber") += 1;
                extras -= 1;
            }
        }
        let mut taken = BTreeSet::new();
        let mut given: BTreeMap<&String, BTreeSet<i32>> = BTreeMap::new();
        for m in &subs {
            let keep: BTreeSet<i32> = current(m)
                .into_iter()
                .filter(|p| !taken.contains(p))
                .take(quota[m])
                .collect();
            taken.extend(keep.iter().copied());
            given.insert(m, keep);
        }
        let mut free = (0..count as i32).filter(|p| !taken.contains(p));
        for m in &subs {
            let mine = given.get_mut(m).expect("subscriber");
            while mine.len() < quota[m] {
                match free.next() {
                    Some(p) => {
                        mine.insert(p);
                    }
                    None => break,
                }
            }
        }
        for (m, ps) in given {
            if !ps.is_empty() {
                result.get_mut(m).expect("member").insert(*topic, ps);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn fresh(topics: &[u128]) -> MemberSpec {
        MemberSpec {
            topics: topics.iter().map(|n| t(*n)).collect(),
            current: Assignment::new(),
        }
    }

    #[test]
    fn contiguous_ranges_in_member_order() {
        let members = [
            ("a".into(), fresh(&[1])),
            ("b".into(), fresh(&[1])),
            ("c".into(), fresh(&[1])),
        ]
        .into();
        let result = assign(&members, &[(t(1), 7)].into());
        let of = |m: &str| result[m][&t(1)].iter().copied().collect::<Vec<_>>();
        assert_eq!(of("a"), vec![0, 1, 2]);
        assert_eq!(of("b"), vec![3, 4]);
        assert_eq!(of("c"), vec![5, 6]);
    }

    #[test]
    fn co_partitioned_topics_line_up() {
        let members = [("a".into(), fresh(&[1, 2])), ("b".into(), fresh(&[1, 2]))].into();
        let result = assign(&members, &[(t(1), 4), (t(2), 4)].into());
        assert_eq!(result["a"][&t(1)], result["a"][&t(2)]);
        assert_eq!(result["b"][&t(1)], result["b"][&t(2)]);
    }
}
