//! Kafka's `uniform` assignor (UniformAssignor, with its Optimized and General builders in
//! one): every partition goes to one of the members subscribed to its topic, member sizes
//! differ by at most one where subscriptions allow, and a member keeps the partitions of its
//! current target unless balance needs them elsewhere.
//!
//! The steps: keep every current partition that is still valid and subscribed; give each
//! partition nobody kept to its least-loaded subscriber; then move partitions from the most to
//! the least loaded subscriber while that narrows a gap of two or more. Each move lowers the
//! sum of squared sizes, so the last step ends.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::MemberSpec;
use crate::coordinator::group::Assignment;

/// The new targets.
pub fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut owner: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
    let mut load: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    for (m, spec) in members {
        for (topic, ps) in &spec.current {
            let Some(&count) = partitions.get(topic) else {
                continue;
            };
            if !spec.topics.contains(topic) {
                continue;
            }
            for &p in ps {
                if (0..count).contains(&p) && !owner.contains_key(&(*topic, p)) {
                    owner.insert((*topic, p), m);
                    *load.entry(m).or_default() += 1;
                }
            }
        }
    }
    let subscribers: BTreeMap<Uuid, Vec<&str>> = partitions
        .keys()
        .map(|topic| {
            let subs = members
                .iter()
                .filter(|(_, s)| s.topics.contains(topic))
                .map(|(m, _)| m.as_str())
                .collect();
            (*topic, subs)
        })
        .collect();
    let least_loaded = |load: &BTreeMap<&str, usize>, subs: &[&str]| -> Option<String> {
        subs.iter()
            .min_by_key(|m| (load[**m], **m))
            .map(|m| m.to_string())
    };
    for (topic, &count) in partitions {
        let subs = &subscribers[topic];
        for p in 0..count {
            if owner.contains_key(&(*topic, p)) {
                continue;
            }
            let Some(m) = least_loaded(&load, subs) else {
                break;
            };
            let m = members
                .get_key_value(&m)
                .map(|(k, _)| k.as_str())
                .unwrap_or("");
            owner.insert((*topic, p), m);
            *load.entry(m).or_default() += 1;
        }
    }
    // Balance: take from the most loaded member the last partition that a subscriber with two
    // or more fewer partitions can take.
    loop {
        let mut by_load: Vec<&str> = load.keys().copied().collect();
        by_load.sort_by_key(|m| (std::cmp::Reverse(load[m]), *m));
        let mut moved = None;
        'search: for from in by_load {
            let owned: Vec<(Uuid, i32)> = owner
                .iter()
                .filter(|(_, m)| **m == from)
                .map(|(k, _)| *k)
                .rev()
                .collect();
            for (topic, p) in owned {
                let subs = &subscribers[&topic];
                if let Some(to) = subs
                    .iter()
                    .filter(|m| load[**m] + 1 < load[from])
                    .min_by_key(|m| (load[**m], **m))
                {
                    moved = Some(((topic, p), from, *to));
                    break 'search;
                }
            }
        }
        let Some((key, from, to)) = moved else { break };
        owner.insert(key, to);
        *load.get_mut(from).expect("known member") -= 1;
        *load.get_mut(to).expect("known member") += 1;
    }
    let mut result: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for ((topic, p), m) in owner {
        if let Some(a) = result.get_mut(m) {
            a.entry(topic).or_insert_with(BTreeSet::new).insert(p);
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

    fn member(topics: &[u128], current: &[(u128, &[i32])]) -> MemberSpec {
        MemberSpec {
            topics: topics.iter().map(|n| t(*n)).collect(),
            current: current
                .iter()
                .map(|(topic, ps)| (t(*topic), ps.iter().copied().collect()))
                .collect(),
        }
    }

    fn sizes(result: &BTreeMap<String, Assignment>) -> Vec<usize> {
        result
            .values()
            .map(crate::coordinator::group::partition_count)
            .collect()
    }

    #[test]
    fn three_partitions_over_two_members_split_two_and_one() {
        let members = [
            ("a".into(), member(&[1], &[])),
            ("b".into(), member(&[1], &[])),
        ]
        .into();
        let result = assign(&members, &[(t(1), 3)].into());
        assert_eq!(sizes(&result), vec![2, 1]);
    }

    #[test]
    fn a_joining_member_takes_only_what_balance_needs() {
        // a holds all three; b joins: one partition moves, a keeps two.
        let members = [
            ("a".into(), member(&[1], &[(1, &[0, 1, 2])])),
            ("b".into(), member(&[1], &[])),
        ]
        .into();
        let result = assign(&members, &[(t(1), 3)].into());
        assert_eq!(result["a"].len(), 1);
        assert_eq!(result["a"][&t(1)].len(), 2);
        assert_eq!(result["b"][&t(1)].len(), 1);
        assert!(result["a"][&t(1)].is_subset(&[0, 1, 2].into()));
    }

    #[test]
    fn heterogeneous_subscriptions_go_only_to_subscribers() {
        let members = [
            ("a".into(), member(&[1, 2], &[])),
            ("b".into(), member(&[2], &[])),
        ]
        .into();
        let result = assign(&members, &[(t(1), 2), (t(2), 2)].into());
        assert!(!result["b"].contains_key(&t(1)));
        assert_eq!(sizes(&result), vec![2, 2]);
    }
}
