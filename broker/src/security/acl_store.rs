//! The ACLs, kept durably in the data dir and changed by CreateAcls and DeleteAcls, with the
//! authorizer settings; every check reads them here. Kafka counterpart: the ACL part of
//! `AclControlManager` (the bindings) and `StandardAuthorizer` (the checks over them).
//!
//! On disk: `acls.json`, `{"acls":[{"resource_type","name","pattern_type","principal","host",
//! "operation","permission"}]}` with Kafka's wire codes; written atomically as the SCRAM
//! credentials are (temporary file, fsync, rename).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::authorizer::{
    self, AclBinding, AclBindingFilter, AclOperation, AuthorizerConfig, PatternType,
    PermissionType, Requester, ResourceType,
};

/// The file in the data dir.
pub const FILE: &str = "acls.json";

/// Why the ACLs could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AclStoreError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: gregor_storage::StorageError,
    },
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    acls: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    resource_type: i8,
    name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
}

/// The authorizer: its settings and the ACLs.
#[derive(Debug)]
pub struct AclStore {
    path: PathBuf,
    /// `super.users` and `allow.everyone.if.no.acl.found`.
    pub config: AuthorizerConfig,
    /// Held for writing across the file write, so changes are applied one at a time.
    acls: RwLock<BTreeSet<AclBinding>>,
}

impl AclStore {
    /// Loads the ACLs of the data dir `dir` (none when the file does not exist).
    pub fn load(dir: &Path, config: AuthorizerConfig) -> Result<AclStore, AclStoreError> {
        let path = dir.join(FILE);
        let read_err = |cause: String| AclStoreError::Read {
            path: path.clone(),
            cause,
        };
        let mut acls = BTreeSet::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: FileFormat =
                    serde_json::from_slice(&bytes).map_err(|e| read_err(e.to_string()))?;
                for e in file.acls {
                    let acl = AclBinding {
                        resource_type: ResourceType::from_code(e.resource_type),
                        name: e.name,
                        pattern_type: PatternType::from_code(e.pattern_type),
                        principal: e.principal,
                        host: e.host,
                        operation: AclOperation::from_code(e.operation),
                        permission: PermissionType::from_code(e.permission),
                    };
                    validate(&acl).map_err(|why| read_err(format!("{why}: {acl:?}")))?;
                    acls.insert(acl);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(e.to_string())),
        }
        Ok(AclStore {
            path,
            config,
            acls: RwLock::new(acls),
        })
    }

    /// Whether `who` may do `operation` on the resource.
    pub fn authorize(
        &self,
        who: &Requester,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        authorizer::authorize(
            &self.config,
            &self.read(),
            who,
            operation,
            resource_type,
            name,
        )
    }

    /// The authorized-operations bit field of the resource for `who`.
    pub fn authorized_operations(
        &self,
        who: &Requester,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        authorizer::authorized_operations(&self.config, &self.read(), who, resource_type, name)
    }

    /// Whether `who` may do `operation` on some resource of `resource_type`.
    pub fn authorize_by_resource_type(
        &self,
        who: &Requester,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        authorizer::authorize_by_resource_type(
            &self.config,
            &self.read(),
            who,
            operation,
            resource_type,
        )
    }

    /// The ACLs `filter` selects.
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.read()
            .iter()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect()
    }

    /// Adds `acls` (checked by the caller; ones that exist already are kept once) in one write.
    pub fn create(&self, acls: &[AclBinding]) -> Result<(), AclStoreError> {
        self.change(|set| {
            set.extend(acls.iter().cloned());
        })
    }

    /// Removes what each filter selects in one write; what each removed, in filter order.
    pub fn delete(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Vec<AclBinding>>, AclStoreError> {
        let mut removed = Vec::new();
        self.change(|set| {
            // Each filter sees every ACL, as Kafka matches every filter against the same image.
            for filter in filters {
                removed.push(set.iter().filter(|a| filter.matches(a)).cloned().collect());
            }
            set.retain(|a| !filters.iter().any(|f| f.matches(a)));
        })?;
        Ok(removed)
    }

    fn change(&self, f: impl FnOnce(&mut BTreeSet<AclBinding>)) -> Result<(), AclStoreError> {
        let mut acls = self.acls.write().unwrap_or_else(|e| e.into_inner());
        let mut next = acls.clone();
        f(&mut next);
        if next == *acls {
            return Ok(());
        }
        let file = FileFormat {
            acls: next
                .iter()
                .map(|a| FileEntry {
                    resource_type: a.resource_type.code(),
                    name: a.name.clone(),
                    pattern_type: a.pattern_type.code(),
                    principal: a.principal.clone(),
                    host: a.host.clone(),
                    operation: a.operation.code(),
                    permission: a.permission.code(),
                })
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).expect("ACLs serialize");
        gregor_storage::write_atomically(&self.path, &text).map_err(|cause| {
            AclStoreError::Write {
                path: self.path.clone(),
                cause,
            }
        })?;
        *acls = next;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<AclBinding>> {
        self.acls.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Kafka's checks of a new ACL (`AclControlManager.validateNewAcl`, `AclApis`,
/// `SecurityUtils.parseKafkaPrincipal`): the message of the INVALID_REQUEST it is refused with.
pub fn validate(acl: &AclBinding) -> Result<(), String> {
    if matches!(acl.resource_type, ResourceType::Unknown | ResourceType::Any) {
        return Err(format!("Invalid resourceType {}", acl.resource_type.name()));
    }
    if !matches!(
        acl.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return Err(format!("Invalid patternType {}", acl.pattern_type.name()));
    }
    if matches!(acl.operation, AclOperation::Unknown | AclOperation::Any) {
        return Err(format!("Invalid operation {}", acl.operation.name()));
    }
    if !matches!(acl.permission, PermissionType::Allow | PermissionType::Deny) {
        return Err(format!("Invalid permissionType {}", acl.permission.name()));
    }
    if acl.resource_type == ResourceType::Cluster && acl.name != authorizer::CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {}",
            authorizer::CLUSTER_NAME
        ));
    }
    if acl.name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    match acl.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(format!(
            "expected a string in format principalType:principalName but got {}",
            acl.principal
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_acl(topic: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            name: topic.into(),
            pattern_type: PatternType::Literal,
            principal: "User:a".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: PermissionType::Allow,
        }
    }

    #[test]
    fn acls_survive_a_reload_and_deletes_remove_what_they_match() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::load(dir.path(), AuthorizerConfig::default()).unwrap();
        store.create(&[read_acl("t1"), read_acl("t2")]).unwrap();
        let again = AclStore::load(dir.path(), AuthorizerConfig::default()).unwrap();
        let who = Requester {
            principal: "User:a".into(),
            host: "127.0.0.1".into(),
        };
        assert!(again.authorize(&who, AclOperation::Read, ResourceType::Topic, "t1"));
        let filter = AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some("t1".into()),
            pattern_type: PatternType::Match,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: PermissionType::Any,
        };
        let removed = again.delete(std::slice::from_ref(&filter)).unwrap();
        assert_eq!(removed, vec![vec![read_acl("t1")]]);
        let last = AclStore::load(dir.path(), AuthorizerConfig::default()).unwrap();
        assert!(last.describe(&filter).is_empty());
        assert!(last.authorize(&who, AclOperation::Read, ResourceType::Topic, "t2"));
        std::fs::write(dir.path().join(FILE), b"{").unwrap();
        assert!(AclStore::load(dir.path(), AuthorizerConfig::default()).is_err());
    }

    #[test]
    fn new_acls_are_checked_as_kafka_checks_them() {
        assert!(validate(&read_acl("t")).is_ok());
        let mut bad = read_acl("t");
        bad.pattern_type = PatternType::Match;
        assert_eq!(validate(&bad).unwrap_err(), "Invalid patternType MATCH");
        let mut bad = read_acl("t");
        bad.principal = "alice".into();
        assert!(validate(&bad).is_err());
        let mut bad = read_acl("t");
        bad.resource_type = ResourceType::Cluster;
        assert!(validate(&bad).unwrap_err().contains("kafka-cluster"));
        assert!(validate(&read_acl("")).is_err());
    }
}
