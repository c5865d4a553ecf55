//! Configs changed at runtime (`kafka-configs --alter`): this broker's dynamic settings, the
//! cluster-wide broker defaults and per-group configs, kept in the data dir so a restart keeps
//! them. Kafka keeps them as `ConfigRecord`s in its metadata log (`ConfigurationControlManager`);
//! Gregor has no metadata log, so they live in one small file written atomically.
//!
//! On disk, `dynamic-configs`: a comment line, then one line per config, tab-separated:
//! `broker-default KEY VALUE`, `broker KEY VALUE` or `group GROUP KEY VALUE`, with `\`, tab and
//! newline escaped as `\\`, `\t` and `\n`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's name in the data dir.
pub const FILE: &str = "dynamic-configs";

/// Which set of dynamic configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The cluster-wide broker defaults (`--entity-type brokers --entity-default`).
    BrokerDefault,
    /// This broker's own (`--entity-type brokers --entity-name 1`).
    Broker,
    /// One group's (`--entity-type groups --entity-name G`).
    Group(String),
}

/// Every dynamic config, by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicConfigs {
    /// DYNAMIC_DEFAULT_BROKER_CONFIG entries.
    pub broker_default: BTreeMap<String, String>,
    /// DYNAMIC_BROKER_CONFIG entries of this broker.
    pub broker: BTreeMap<String, String>,
    /// Group configs (GROUP_CONFIG), by group id.
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
}

/// Why the dynamic configs could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DynamicConfigError {
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: not a dynamic config line")]
    Malformed { path: PathBuf, line: usize },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: gregor_storage::StorageError,
    },
}

impl DynamicConfigs {
    /// The configs of `scope` (empty when none are set).
    pub fn of(&self, scope: &Scope) -> BTreeMap<String, String> {
        match scope {
            Scope::BrokerDefault => self.broker_default.clone(),
            Scope::Broker => self.broker.clone(),
            Scope::Group(id) => self.groups.get(id).cloned().unwrap_or_default(),
        }
    }

    /// Replaces the configs of `scope`.
    pub fn set(&mut self, scope: &Scope, configs: BTreeMap<String, String>) {
        match scope {
            Scope::BrokerDefault => self.broker_default = configs,
            Scope::Broker => self.broker = configs,
            Scope::Group(id) if configs.is_empty() => {
                self.groups.remove(id);
            }
            Scope::Group(id) => {
                self.groups.insert(id.clone(), configs);
            }
        }
    }

    /// Reads `dir`'s file; none yet means no dynamic configs.
    pub fn load(dir: &Path) -> Result<DynamicConfigs, DynamicConfigError> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(cause) => return Err(DynamicConfigError::Read { path, cause }),
        };
        let mut configs = DynamicConfigs::default();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let fields: Vec<String> = line.split('\t').map(unescape).collect();
            let malformed = || DynamicConfigError::Malformed {
                path: path.clone(),
                line: n + 1,
            };
            match fields.as_slice() {
                [scope, key, value] if scope == "broker-default" => {
                    configs.broker_default.insert(key.clone(), value.clone());
                }
                [scope, key, value] if scope == "broker" => {
                    configs.broker.insert(key.clone(), value.clone());
                }
                [scope, group, key, value] if scope == "group" => {
                    configs
                        .groups
                        .entry(group.clone())
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
                _ => return Err(malformed()),
            }
        }
        Ok(configs)
    }

    /// Writes the file in `dir` atomically and durably (temporary file, fsync, rename, fsync of
    /// the directory), so a crash leaves the old set or the new one.
    pub fn save(&self, dir: &Path) -> Result<(), DynamicConfigError> {
        let mut text = String::from("# Gregor's dynamic configs (kafka-configs --alter)\n");
        let mut line = |fields: &[&str]| {
            let escaped: Vec<String> = fields.iter().map(|f| escape(f)).collect();
            text.push_str(&escaped.join("\t"));
            text.push('\n');
        };
        for (k, v) in &self.broker_default {
            line(&["broker-default", k, v]);
        }
        for (k, v) in &self.broker {
            line(&["broker", k, v]);
        }
        for (group, configs) in &self.groups {
            for (k, v) in configs {
                line(&["group", group, k, v]);
            }
        }
        let path = dir.join(FILE);
        gregor_storage::write_atomically(&path, text.as_bytes())
            .map_err(|cause| DynamicConfigError::Write { path, cause })
    }
}

fn escape(field: &str) -> String {
    field
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survive_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            DynamicConfigs::load(dir.path()).unwrap(),
            DynamicConfigs::default()
        );
        let mut configs = DynamicConfigs::default();
        configs.set(
            &Scope::BrokerDefault,
            BTreeMap::from([("log.segment.bytes".into(), "1048576".into())]),
        );
        configs.set(
            &Scope::Broker,
            BTreeMap::from([("odd\tkey".into(), "line\nbreak \\ here".into())]),
        );
        configs.set(
            &Scope::Group("g\t1".into()),
            BTreeMap::from([("consumer.session.timeout.ms".into(), "50000".into())]),
        );
        configs.save(dir.path()).unwrap();
        assert_eq!(DynamicConfigs::load(dir.path()).unwrap(), configs);
        configs.set(&Scope::Group("g\t1".into()), BTreeMap::new());
        assert!(configs.groups.is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "broker\tonly-a-key\n").unwrap();
        assert!(matches!(
            DynamicConfigs::load(dir.path()),
            Err(DynamicConfigError::Malformed { line: 1, .. })
        ));
    }
}
