//! Regular-expression subscriptions (KIP-848 `SubscribedTopicRegex`). Kafka compiles them with
//! RE2/J and matches whole topic names; the `regex` crate takes the same RE2 syntax, and the
//! pattern is anchored at both ends here so a match is a full match, as Java's `matches()`.

use regex::Regex;

/// A compiled subscription regex.
#[derive(Debug, Clone)]
pub struct SubscriptionRegex(Regex);

impl SubscriptionRegex {
    /// Compiles `pattern`; the error says why it is not a valid RE2 expression.
    pub fn compile(pattern: &str) -> Result<SubscriptionRegex, String> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map(SubscriptionRegex)
            .map_err(|e| e.to_string())
    }

    /// Whether the whole of `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        self.0.is_match(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_names_only() {
        let r = SubscriptionRegex::compile("orders-.*").unwrap();
        assert!(r.matches("orders-eu"));
        assert!(!r.matches("old-orders-eu"), "a full match, as Kafka's");
        let r = SubscriptionRegex::compile("^orders-.*").unwrap();
        assert!(r.matches("orders-1"));
        let r = SubscriptionRegex::compile("a|b").unwrap();
        assert!(r.matches("a") && r.matches("b") && !r.matches("ab"));
    }

    #[test]
    fn rejects_what_re2_rejects() {
        assert!(SubscriptionRegex::compile("orders-[").is_err());
        // Backreferences are not RE2.
        assert!(SubscriptionRegex::compile(r"(a)\1").is_err());
    }
}
