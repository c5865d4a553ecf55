//! SCRAM credentials (RFC 5802), kept durably in the data dir and managed with
//! AlterUserScramCredentials (`kafka-configs --alter --add-config 'SCRAM-SHA-256=[...]'
//! --entity-type users`). Kafka counterpart: `ScramControlManager` and the `ScramImage`.
//!
//! On disk: `scram-credentials.json`, `{"users":[{"name","mechanism","iterations","salt",
//! "stored_key","server_key"}]}` with the byte fields in base64; written atomically (temporary
//! file, fsync, rename, fsync of the directory). Only the salted password's derived keys are
//! kept, never the password, as in Kafka.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The file in the data dir.
pub const FILE: &str = "scram-credentials.json";

/// Kafka's limit on iterations (`ScramControlManager.MAX_ITERATIONS`).
pub const MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism, with Kafka's type number (`ScramMechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's type number: 1 for SCRAM-SHA-256, 2 for SCRAM-SHA-512.
    pub fn from_type(t: i8) -> Option<ScramMechanism> {
        match t {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's type number.
    pub fn type_number(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a SASL name.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The fewest iterations accepted (RFC 7677 and Kafka: 4096 for both).
    pub fn min_iterations(self) -> i32 {
        4096
    }

    pub(crate) fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => ring::hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => ring::hmac::HMAC_SHA512,
        }
    }

    pub(crate) fn digest(self) -> &'static ring::digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &ring::digest::SHA256,
            ScramMechanism::Sha512 => &ring::digest::SHA512,
        }
    }

    /// HMAC(key, message).
    pub fn hmac_of(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let key = ring::hmac::Key::new(self.hmac(), key);
        ring::hmac::sign(&key, message).as_ref().to_vec()
    }

    /// H(message).
    pub fn hash(self, message: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.digest(), message)
            .as_ref()
            .to_vec()
    }

    /// Hi(password, salt, iterations): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let algorithm = match self {
            ScramMechanism::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        };
        let mut out = vec![0u8; self.digest().output_len()];
        let iterations = std::num::NonZeroU32::new(iterations.max(1)).expect("at least 1");
        ring::pbkdf2::derive(algorithm, iterations, salt, password, &mut out);
        out
    }
}

/// What the broker keeps of one user's password for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of a salted password, as Kafka's `ScramFormatter` derives it.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac_of(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac_of(salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// Why the credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ScramStoreError {
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
    users: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    name: String,
    mechanism: String,
    iterations: i32,
    salt: String,
    stored_key: String,
    server_key: String,
}

type Users = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

/// Every user's SCRAM credentials.
#[derive(Debug)]
pub struct ScramStore {
    path: PathBuf,
    /// Held for writing across the file write, so alters are applied one at a time.
    users: RwLock<Users>,
}

/// One change of AlterUserScramCredentials, checked by the caller.
#[derive(Debug, Clone)]
pub enum Change {
    Delete(String, ScramMechanism),
    Upsert(String, ScramMechanism, ScramCredential),
}

impl ScramStore {
    /// Loads the credentials of the data dir `dir` (none when the file does not exist).
    pub fn load(dir: &Path) -> Result<ScramStore, ScramStoreError> {
        let path = dir.join(FILE);
        let read_err = |cause: String| ScramStoreError::Read {
            path: path.clone(),
            cause,
        };
        let mut users = Users::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: FileFormat =
                    serde_json::from_slice(&bytes).map_err(|e| read_err(e.to_string()))?;
                for e in file.users {
                    let mechanism = ScramMechanism::from_name(&e.mechanism)
                        .ok_or_else(|| read_err(format!("unknown mechanism {}", e.mechanism)))?;
                    let decode = |s: &str| B64.decode(s).map_err(|e| read_err(e.to_string()));
                    users.entry(e.name).or_default().insert(
                        mechanism,
                        ScramCredential {
                            salt: decode(&e.salt)?,
                            stored_key: decode(&e.stored_key)?,
                            server_key: decode(&e.server_key)?,
                            iterations: e.iterations,
                        },
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(e.to_string())),
        }
        Ok(ScramStore {
            path,
            users: RwLock::new(users),
        })
    }

    /// The credential of `user` for `mechanism`.
    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.read().get(user)?.get(&mechanism).cloned()
    }

    /// Every user with their mechanisms and iterations.
    pub fn describe(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        self.read()
            .iter()
            .map(|(u, m)| {
                (
                    u.clone(),
                    m.iter().map(|(m, c)| (*m, c.iterations)).collect(),
                )
            })
            .collect()
    }

    /// Whether `user` has a credential for `mechanism`.
    pub fn contains(&self, user: &str, mechanism: ScramMechanism) -> bool {
        self.read()
            .get(user)
            .is_some_and(|m| m.contains_key(&mechanism))
    }

    /// Applies `changes` and writes the file; on a write error nothing changes.
    pub fn apply(&self, changes: &[Change]) -> Result<(), ScramStoreError> {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut next = users.clone();
        for change in changes {
            match change {
                Change::Delete(user, mechanism) => {
                    if let Some(m) = next.get_mut(user) {
                        m.remove(mechanism);
                        if m.is_empty() {
                            next.remove(user);
                        }
                    }
                }
                Change::Upsert(user, mechanism, credential) => {
                    next.entry(user.clone())
                        .or_default()
                        .insert(*mechanism, credential.clone());
                }
            }
        }
        let file = FileFormat {
            users: next
                .iter()
                .flat_map(|(name, m)| {
                    m.iter().map(move |(mechanism, c)| FileEntry {
                        name: name.clone(),
                        mechanism: mechanism.name().to_string(),
                        iterations: c.iterations,
                        salt: B64.encode(&c.salt),
                        stored_key: B64.encode(&c.stored_key),
                        server_key: B64.encode(&c.server_key),
                    })
                })
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).expect("credentials serialize");
        gregor_storage::write_atomically(&self.path, &text).map_err(|cause| {
            ScramStoreError::Write {
                path: self.path.clone(),
                cause,
            }
        })?;
        *users = next;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7677_test_vector_derives_the_same_keys() {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let m = ScramMechanism::Sha256;
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let c = ScramCredential::from_salted_password(m, &salt, &salted, 4096);
        // ServerSignature of the RFC's exchange, from its ServerKey.
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = m.hmac_of(&c.server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn credentials_survive_a_reload_and_deletes_remove_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScramStore::load(dir.path()).unwrap();
        let c = ScramCredential::from_salted_password(ScramMechanism::Sha512, b"salt", b"x", 4096);
        store
            .apply(&[Change::Upsert(
                "alice".into(),
                ScramMechanism::Sha512,
                c.clone(),
            )])
            .unwrap();
        let again = ScramStore::load(dir.path()).unwrap();
        assert_eq!(again.get("alice", ScramMechanism::Sha512), Some(c));
        assert!(again.get("alice", ScramMechanism::Sha256).is_none());
        again
            .apply(&[Change::Delete("alice".into(), ScramMechanism::Sha512)])
            .unwrap();
        assert!(ScramStore::load(dir.path()).unwrap().describe().is_empty());
        std::fs::write(dir.path().join(FILE), b"{").unwrap();
        assert!(ScramStore::load(dir.path()).is_err());
    }
}
