//! Plain words for what the coordinator did: who keeps, takes and gives up which partition
//! between two views of the group, and the table of owners after a step.

use std::collections::BTreeMap;

/// Owned partitions by member name.
pub type Owners = BTreeMap<String, Vec<i32>>;

/// "orders-0", "orders-0 and orders-2", "orders-0, orders-1 and orders-2".
pub fn partitions(topic: &str, ps: &[i32]) -> String {
    let names: Vec<String> = ps.iter().map(|p| format!("{topic}-{p}")).collect();
    match names.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// One clause per member of `after`, and one per member of `before` that is gone:
/// "consumer-1 keeps orders-0 and orders-2, consumer-2 takes orders-1".
pub fn changes(topic: &str, before: &Owners, after: &Owners) -> String {
    let mut clauses = Vec::new();
    for (name, now) in after {
        let was = before.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let kept: Vec<i32> = now.iter().copied().filter(|p| was.contains(p)).collect();
        let taken: Vec<i32> = now.iter().copied().filter(|p| !was.contains(p)).collect();
        let given: Vec<i32> = was.iter().copied().filter(|p| !now.contains(p)).collect();
        let mut parts = Vec::new();
        if !kept.is_empty() {
            parts.push(format!("keeps {}", partitions(topic, &kept)));
        }
        if !taken.is_empty() {
            parts.push(format!("takes {}", partitions(topic, &taken)));
        }
        if !given.is_empty() {
            parts.push(format!("gives up {}", partitions(topic, &given)));
        }
        if now.is_empty() {
            parts.push("is idle (more consumers than partitions)".to_string());
        }
        clauses.push(format!("{name} {}", parts.join(" and ")));
    }
    for (name, was) in before {
        if !after.contains_key(name) && !was.is_empty() {
            clauses.push(format!(
                "{name} is gone and its {} went to the others",
                partitions(topic, was)
            ));
        }
    }
    clauses.join(", ")
}

/// The owners table the lesson prints after each step, one line per member:
/// `  consumer-1: orders-0, orders-2` (or `(idle)`).
pub fn table(topic: &str, owners: &Owners) -> Vec<String> {
    owners
        .iter()
        .map(|(name, ps)| {
            let owned = if ps.is_empty() {
                "(idle)".to_string()
            } else {
                ps.iter()
                    .map(|p| format!("{topic}-{p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("  {name}: {owned}")
        })
        .collect()
}

/// Reads a table line back: the member and its partitions.
#[cfg(test)]
pub fn parse_table_line(topic: &str, line: &str) -> Option<(String, Vec<i32>)> {
    let (name, owned) = line.strip_prefix("  ")?.split_once(": ")?;
    if owned == "(idle)" {
        return Some((name.to_string(), Vec::new()));
    }
    let ps = owned
        .split(", ")
        .map(|p| p.strip_prefix(topic)?.strip_prefix('-')?.parse().ok())
        .collect::<Option<Vec<i32>>>()?;
    Some((name.to_string(), ps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(v: &[(&str, &[i32])]) -> Owners {
        v.iter()
            .map(|(n, ps)| (n.to_string(), ps.to_vec()))
            .collect()
    }

    #[test]
    fn a_join_reads_as_keeps_and_takes() {
        let before = owners(&[("consumer-1", &[0, 1, 2])]);
        let after = owners(&[("consumer-1", &[0, 2]), ("consumer-2", &[1])]);
        assert_eq!(
            changes("orders", &before, &after),
            "consumer-1 keeps orders-0 and orders-2 and gives up orders-1, consumer-2 takes orders-1"
        );
    }

    #[test]
    fn idle_and_departed_members_are_named() {
        let before = owners(&[("c1", &[0]), ("c2", &[1]), ("c3", &[2])]);
        let after = owners(&[("c1", &[0, 2]), ("c2", &[1]), ("c4", &[])]);
        assert_eq!(
            changes("t", &before, &after),
            "c1 keeps t-0 and takes t-2, c2 keeps t-1, c4 is idle (more consumers than partitions), c3 is gone and its t-2 went to the others"
        );
    }

    #[test]
    fn table_lines_read_back() {
        let o = owners(&[("consumer-1", &[0, 2]), ("consumer-4", &[])]);
        let lines = table("orders", &o);
        assert_eq!(
            lines,
            ["  consumer-1: orders-0, orders-2", "  consumer-4: (idle)"]
        );
        let back: Owners = lines
            .iter()
            .map(|l| parse_table_line("orders", l).unwrap())
            .collect();
        assert_eq!(back, o);
        assert_eq!(
            partitions("orders", &[0, 1, 2]),
            "orders-0, orders-1 and orders-2"
        );
    }
}
