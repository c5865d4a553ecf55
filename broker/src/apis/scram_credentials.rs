//! DescribeUserScramCredentials and AlterUserScramCredentials over the broker's SCRAM store,
//! with Kafka's checks and messages (`ScramControlManager`, `ScramImage.describe`), so
//! `kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=...]' --entity-type users`
//! creates a user that SASL/SCRAM then authenticates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gregor_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use gregor_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use gregor_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::broker::Broker;
use crate::security::scram_store::{
    Change, ScramCredential, ScramMechanism, ScramStore, MAX_ITERATIONS,
};

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Handles DescribeUserScramCredentials.
pub fn describe(
    broker: &Arc<Broker>,
    request: &DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    describe_in(&broker.scram, request)
}

/// Every user when none is named (null or empty), else each named user in the order first
/// named: their mechanisms, or RESOURCE_NOT_FOUND, or DUPLICATE_RESOURCE when named twice.
fn describe_in(
    store: &ScramStore,
    request: &DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let users = store.describe();
    let infos = |mechanisms: &Vec<(ScramMechanism, i32)>| -> Vec<CredentialInfo> {
        mechanisms
            .iter()
            .map(|(m, iterations)| {
                CredentialInfo::default()
                    .with_mechanism(m.type_number())
                    .with_iterations(*iterations)
            })
            .collect()
    };
    let named: Vec<&str> = request
        .users
        .iter()
        .flatten()
        .map(|u| u.name.as_str())
        .collect();
    if named.is_empty() {
        return DescribeUserScramCredentialsResponse::default().with_results(
            users
                .iter()
                .map(|(name, m)| {
                    DescribeUserScramCredentialsResult::default()
                        .with_user(text(name.clone()))
                        .with_credential_infos(infos(m))
                })
                .collect(),
        );
    }
    let mut order: Vec<&str> = Vec::new();
    let mut twice: HashMap<&str, bool> = HashMap::new();
    for name in named {
        match twice.get_mut(name) {
            Some(t) => *t = true,
            None => {
                twice.insert(name, false);
                order.push(name);
            }
        }
    }
    let results = order
        .into_iter()
        .map(|name| {
            let result = DescribeUserScramCredentialsResult::default().with_user(text(name));
            if twice[name] {
                result
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(text(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                    ))))
            } else if let Some(m) = users.get(name) {
                result.with_credential_infos(infos(m))
            } else {
                result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(text(format!(
                        "Attempt to describe a user credential that does not exist: {name}"
                    ))))
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Handles AlterUserScramCredentials.
pub fn alter(
    broker: &Arc<Broker>,
    request: &AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    alter_in(&broker.scram, request)
}

/// Checks each deletion and upsertion as Kafka does (deletions must exist, iterations within
/// 4096..=16384, a user's mechanism altered twice in one request is refused), applies the
/// valid ones in one durable write, and answers per user. Two mechanisms of one user in one
/// request are two changes, so the documented `kafka-configs --add-config
/// 'SCRAM-SHA-256=[...],SCRAM-SHA-512=[...]'` works.
fn alter_in(
    store: &ScramStore,
    request: &AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut errors: BTreeMap<String, (ResponseError, String)> = BTreeMap::new();
    // By user and mechanism type.
    let mut changes: BTreeMap<(String, i8), Change> = BTreeMap::new();
    let duplicate = || {
        (
            ResponseError::DuplicateResource,
            "A user credential cannot be altered twice in the same request".to_string(),
        )
    };
    let check = |name: &str, mechanism: i8| match (name, ScramMechanism::from_type(mechanism)) {
        ("", _) => Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty".to_string(),
        )),
        (_, None) => Err((
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism".to_string(),
        )),
        (_, Some(m)) => Ok(m),
    };
    for d in &request.deletions {
        let name = d.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        if changes.remove(&(name.clone(), d.mechanism)).is_some() {
            errors.insert(name, duplicate());
            continue;
        }
        match check(&name, d.mechanism) {
            Err(e) => {
                errors.insert(name, e);
            }
            Ok(m) if !store.contains(&name, m) => {
                errors.insert(
                    name,
                    (
                        ResponseError::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist".to_string(),
                    ),
                );
            }
            Ok(m) => {
                changes.insert((name.clone(), d.mechanism), Change::Delete(name, m));
            }
        }
    }
    for u in &request.upsertions {
        let name = u.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        if changes.remove(&(name.clone(), u.mechanism)).is_some() {
            errors.insert(name, duplicate());
            continue;
        }
        let checked = check(&name, u.mechanism).and_then(|m| {
            if u.iterations < m.min_iterations() {
                Err((
                    ResponseError::UnacceptableCredential,
                    "Too few iterations".to_string(),
                ))
            } else if u.iterations > MAX_ITERATIONS {
                Err((
                    ResponseError::UnacceptableCredential,
                    "Too many iterations".to_string(),
                ))
            } else {
                Ok(m)
            }
        });
        match checked {
            Err(e) => {
                errors.insert(name, e);
            }
            Ok(m) => {
                let credential = ScramCredential::from_salted_password(
                    m,
                    &u.salt,
                    &u.salted_password,
                    u.iterations,
                );
                changes.insert(
                    (name.clone(), u.mechanism),
                    Change::Upsert(name, m, credential),
                );
            }
        }
    }
    // A user with an error gets none of their changes, so the answer says what happened.
    changes.retain(|(name, _), _| !errors.contains_key(name));
    let mut results = Vec::new();
    let applied: Vec<Change> = changes.values().cloned().collect();
    let written = if applied.is_empty() {
        Ok(())
    } else {
        store.apply(&applied)
    };
    let mut names: Vec<&String> = changes.keys().map(|(n, _)| n).collect();
    names.dedup();
    for name in names {
        let result = AlterUserScramCredentialsResult::default().with_user(text(name.clone()));
        results.push(match &written {
            Ok(()) => result,
            Err(e) => {
                tracing::error!(cause = %e, "cannot store SCRAM credentials");
                result
                    .with_error_code(ResponseError::KafkaStorageError.code())
                    .with_error_message(Some(text(e.to_string())))
            }
        });
    }
    for (name, (code, message)) in errors {
        results.push(
            AlterUserScramCredentialsResult::default()
                .with_user(text(name))
                .with_error_code(code.code())
                .with_error_message(Some(text(message))),
        );
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gregor_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use gregor_protocol::messages::describe_user_scram_credentials_request::UserName;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion::default()
            .with_name(text(name))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(Bytes::from_static(b"salt"))
            .with_salted_password(Bytes::from_static(b"salted"))
    }

    fn codes(r: &AlterUserScramCredentialsResponse) -> Vec<(String, i16)> {
        let mut v: Vec<(String, i16)> = r
            .results
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn alters_are_checked_stored_and_described() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScramStore::load(dir.path()).unwrap();
        let r = alter_in(
            &store,
            &AlterUserScramCredentialsRequest::default()
                .with_upsertions(vec![
                    upsert("alice", 1, 8192),
                    upsert("bob", 2, 100),
                    upsert("carol", 2, 20000),
                    upsert("", 1, 4096),
                    upsert("dave", 3, 4096),
                    upsert("erin", 1, 4096),
                ])
                .with_deletions(vec![
                    ScramCredentialDeletion::default()
                        .with_name(text("erin"))
                        .with_mechanism(1),
                    ScramCredentialDeletion::default()
                        .with_name(text("frank"))
                        .with_mechanism(1),
                ]),
        );
        let c = |e: ResponseError| e.code();
        assert_eq!(
            codes(&r),
            vec![
                ("".into(), c(ResponseError::UnacceptableCredential)),
                ("alice".into(), 0),
                ("bob".into(), c(ResponseError::UnacceptableCredential)),
                ("carol".into(), c(ResponseError::UnacceptableCredential)),
                ("dave".into(), c(ResponseError::UnsupportedSaslMechanism)),
                ("erin".into(), c(ResponseError::ResourceNotFound)),
                ("frank".into(), c(ResponseError::ResourceNotFound)),
            ]
        );
        let d = describe_in(&store, &DescribeUserScramCredentialsRequest::default());
        assert_eq!(d.results.len(), 1);
        assert_eq!(d.results[0].credential_infos[0].iterations, 8192);
        let user = |n: &str| UserName::default().with_name(text(n));
        let d = describe_in(
            &store,
            &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                user("bob"),
                user("alice"),
                user("bob"),
            ])),
        );
        let got: Vec<(&str, i16)> = d
            .results
            .iter()
            .map(|r| (r.user.as_str(), r.error_code))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bob", ResponseError::DuplicateResource.code()),
                ("alice", 0)
            ]
        );
        // The same mechanism twice in one request: refused, and nothing of it applied.
        let r = alter_in(
            &store,
            &AlterUserScramCredentialsRequest::default()
                .with_upsertions(vec![upsert("alice", 1, 4096), upsert("alice", 1, 4096)]),
        );
        assert_eq!(
            codes(&r),
            vec![("alice".into(), ResponseError::DuplicateResource.code())]
        );
        assert_eq!(
            store.describe()["alice"],
            vec![(ScramMechanism::Sha256, 8192)]
        );
        // Both mechanisms at once, as Kafka's documentation does it.
        let r = alter_in(
            &store,
            &AlterUserScramCredentialsRequest::default()
                .with_upsertions(vec![upsert("bob", 1, 4096), upsert("bob", 2, 4096)]),
        );
        assert_eq!(codes(&r), vec![("bob".into(), 0)]);
        assert_eq!(store.describe()["bob"].len(), 2);
    }
}
