//! SASL/PLAIN (RFC 4616) against the users of the listener's JAAS config and of the
//! `gregor.sasl.plain.users.file`, with Kafka's messages. Kafka counterpart: `PlainSaslServer`
//! and `PlainServerCallbackHandler`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{constant_time_eq, Failure, Step};

/// The one-message PLAIN exchange.
#[derive(Debug)]
pub struct PlainServer {
    /// Users and passwords from `user_<name>` JAAS options and the users file.
    users: Arc<BTreeMap<String, String>>,
}

impl PlainServer {
    /// A server checking against `users`.
    pub fn new(users: Arc<BTreeMap<String, String>>) -> PlainServer {
        PlainServer { users }
    }

    /// `[authzid] NUL authcid NUL passwd`: the user, if the password is theirs.
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, Failure> {
        let text = String::from_utf8_lossy(token);
        let tokens: Vec<&str> = text.splitn(4, '\0').collect();
        if tokens.len() != 3 {
            return Err(Failure::message(format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                tokens.len()
            )));
        }
        let (authzid, user, password) = (tokens[0], tokens[1], tokens[2]);
        if user.is_empty() {
            return Err(Failure::message(
                "Authentication failed: username not specified",
            ));
        }
        if password.is_empty() {
            return Err(Failure::message(
                "Authentication failed: password not specified",
            ));
        }
        let known = self
            .users
            .get(user)
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password.as_bytes()));
        if !known {
            return Err(Failure::message(
                "Authentication failed: Invalid username or password",
            ));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(Failure::message("Authentication failed: Client requested an authorization id that is different from username"));
        }
        Ok(Step::Done {
            response: Vec::new(),
            user: user.to_string(),
            expires_ms: None,
        })
    }
}

/// The users of a PLAIN users file: a `user=password` line each (around `=` and at the ends
/// of a line spaces are dropped; the password may hold `=`), blank lines and `#` comments
/// skipped. An error names the line, never its password.
pub fn parse_users_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, password)) = line.split_once('=') else {
            return Err(format!("line {}: user=password", n + 1));
        };
        let (user, password) = (user.trim(), password.trim());
        if user.is_empty() || password.is_empty() {
            return Err(format!("line {}: a user and a password", n + 1));
        }
        users.insert(user.to_string(), password.to_string());
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> PlainServer {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), "alice-secret".to_string());
        PlainServer::new(Arc::new(users))
    }

    #[test]
    fn the_right_password_authenticates_and_anything_else_fails_as_in_kafka() {
        match server().evaluate(b"\0alice\0alice-secret").unwrap() {
            Step::Done { user, .. } => assert_eq!(user, "alice"),
            other => panic!("{other:?}"),
        }
        assert!(server().evaluate(b"alice\0alice\0alice-secret").is_ok());
        let fail = |t: &[u8]| server().evaluate(t).unwrap_err().message;
        assert_eq!(
            fail(b"\0alice\0wrong"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            fail(b"\0bob\0alice-secret"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            fail(b"\0\0x"),
            "Authentication failed: username not specified"
        );
        assert!(fail(b"garbage").contains("expected 3 tokens, got 1"));
        assert!(fail(b"bob\0alice\0alice-secret").contains("authorization id"));
    }

    #[test]
    fn a_users_file_gives_users_and_errors_name_only_the_line() {
        let users = parse_users_file("# team\n alice = a=b c \n\nbob=pw\n").unwrap();
        assert_eq!(users.get("alice").map(String::as_str), Some("a=b c"));
        assert_eq!(users.get("bob").map(String::as_str), Some("pw"));
        let err = parse_users_file("alice=ok\nsecret-without-user\n").unwrap_err();
        assert_eq!(err, "line 2: user=password");
        assert!(parse_users_file("=pw").is_err());
    }
}
