//! Checks of the data dir before the logs are opened: that it is writable, that its format is
//! the one this build reads, and who holds its lock when another broker does.
//!
//! `format-version`, written once the dir is locked, is a small properties file:
//! `format.version=2` (the layout of topics.json, meta.properties and the partition folders,
//! and the record schemas of `__consumer_offsets`) and `written.by=gregor X.Y.Z`. A dir without
//! it that already holds data was written by a Gregor from before the file existed, which is
//! format 1.
//!
//! Formats: 1 kept `__consumer_offsets` values in Gregor's own layout; 2 uses Apache Kafka's
//! record schemas there. A format-1 dir is read, its offsets log rewritten in Kafka's schemas
//! at start, and its `format-version` then says 2 (`upgrade_format`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The data dir layout this build writes.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest layout this build reads (and upgrades at start).
pub const OLDEST_READABLE_FORMAT: u32 = 1;

/// Name of the format file in the data dir.
pub const FORMAT_FILE: &str = "format-version";

/// Why the data dir cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {dir} is not writable ({cause}). Give the user running gregor write access to it (e.g. `sudo chown -R $(id -u):$(id -g) {dir}`), or choose another directory with --data-dir DIR (log.dirs)")]
    NotWritable { dir: PathBuf, cause: std::io::Error },
    #[error(
        "data dir {dir} is not a directory. Choose a directory with --data-dir DIR (log.dirs)"
    )]
    NotADirectory { dir: PathBuf },
    #[error("data dir {dir} was written by {written_by}, in data format {found}; this gregor {ours} reads formats {OLDEST_READABLE_FORMAT} to {FORMAT_VERSION} only. Run the Gregor version that wrote it, or start this one on an empty directory with --data-dir DIR", ours = env!("CARGO_PKG_VERSION"))]
    IncompatibleFormat {
        dir: PathBuf,
        found: String,
        written_by: String,
    },
    #[error("data dir {dir} holds an Apache Kafka log dir (it has __cluster_metadata-0), which Gregor cannot read. Point Gregor at its own directory with --data-dir DIR; Kafka clients can copy topics between the two")]
    KafkaDataDir { dir: PathBuf },
    #[error("data dir {dir} is locked by another running Gregor broker{holder}. Each broker needs its own data dir: stop the other one, or start this one with --data-dir OTHER_DIR", holder = holder.map(|pid| format!(" (process {pid})")).unwrap_or_default())]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("cannot use data dir {dir}: {what}: {cause}")]
    Io {
        dir: PathBuf,
        what: &'static str,
        cause: std::io::Error,
    },
}

/// Creates the dir if needed and proves it writable by creating and removing a file, and checks
/// the format of whatever is already in it, which it returns (a new dir: `FORMAT_VERSION`).
/// Runs before the logs are opened, so nothing is recovered or rewritten in a dir this build
/// must not touch.
pub fn check(dir: &Path) -> Result<u32, DataDirError> {
    let not_writable = |cause: std::io::Error| match cause.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => DataDirError::NotWritable {
            dir: dir.to_path_buf(),
            cause,
        },
        ErrorKind::NotADirectory | ErrorKind::AlreadyExists => DataDirError::NotADirectory {
            dir: dir.to_path_buf(),
        },
        _ => DataDirError::Io {
            dir: dir.to_path_buf(),
            what: "creating it",
            cause,
        },
    };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    if !dir.is_dir() {
        return Err(DataDirError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(not_writable)?;
    let _ = std::fs::remove_file(&probe);

    if dir.join("__cluster_metadata-0").is_dir() {
        return Err(DataDirError::KafkaDataDir {
            dir: dir.to_path_buf(),
        });
    }
    match std::fs::read_to_string(dir.join(FORMAT_FILE)) {
        Ok(text) => {
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix(name)?.trim_start().strip_prefix('='))
                    .map(|v| v.trim().to_string())
            };
            let found = field("format.version").unwrap_or_else(|| "unknown".into());
            match found.parse::<u32>() {
                Ok(v) if (OLDEST_READABLE_FORMAT..=FORMAT_VERSION).contains(&v) => Ok(v),
                _ => Err(DataDirError::IncompatibleFormat {
                    dir: dir.to_path_buf(),
                    found,
                    written_by: field("written.by").unwrap_or_else(|| "an unknown program".into()),
                }),
            }
        }
        // No format file: a new dir, or one from before the file existed (format 1).
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(if holds_data(dir) {
            OLDEST_READABLE_FORMAT
        } else {
            FORMAT_VERSION
        }),
        Err(cause) => Err(DataDirError::Io {
            dir: dir.to_path_buf(),
            what: "reading format-version",
            cause,
        }),
    }
}

/// Whether the dir holds anything a broker wrote (topic metadata or a partition folder).
fn holds_data(dir: &Path) -> bool {
    dir.join("topics.json").exists()
        || dir.join("meta.properties").exists()
        || dir.join("__consumer_offsets-0").is_dir()
}

/// Writes `format-version` if the dir has none yet (call with the dir locked).
pub fn write_format(dir: &Path) -> Result<(), gregor_storage::StorageError> {
    if dir.join(FORMAT_FILE).exists() {
        return Ok(());
    }
    upgrade_format(dir)
}

/// Writes `format-version` for this build's format, replacing an older one: call once the
/// dir's contents are in this format (with the dir locked).
pub fn upgrade_format(dir: &Path) -> Result<(), gregor_storage::StorageError> {
    let path = dir.join(FORMAT_FILE);
    let text = format!(
        "# Layout of this Gregor data dir; do not edit.\nformat.version={FORMAT_VERSION}\nwritten.by=gregor {}\n",
        env!("CARGO_PKG_VERSION")
    );
    gregor_storage::write_atomically(&path, text.as_bytes())
}

/// The process holding the flock on `dir/.lock`, from /proc/locks (Linux), if it can be told.
pub fn lock_holder(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(dir.join(gregor_storage::file_names::LOCK_FILE))
        .ok()?
        .ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF": pid, then major:minor:inode.
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, id) = (fields.get(1)?, fields.get(4)?, fields.get(5)?);
        let file_inode: u64 = id.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && file_inode == inode)
            .then(|| pid.parse().ok())
            .flatten()
            .filter(|pid| *pid != std::process::id())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_dirs_pass_and_get_a_format_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        check(&dir).unwrap();
        write_format(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join(FORMAT_FILE)).unwrap();
        assert!(text.contains("format.version=2\n"), "{text}");
        check(&dir).unwrap();
        // The probe file is gone.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn other_formats_are_refused_with_who_wrote_them() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join(FORMAT_FILE),
            "format.version=3\nwritten.by=gregor 9.0.0\n",
        )
        .unwrap();
        let err = check(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains("gregor 9.0.0") && err.contains("format 3"),
            "{err}"
        );
    }

    #[test]
    fn a_file_in_the_way_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            check(&file),
            Err(DataDirError::NotADirectory { .. })
        ));
        assert!(matches!(
            check(&file.join("sub")),
            Err(DataDirError::NotADirectory { .. })
        ));
    }

    #[test]
    fn kafka_log_dirs_are_recognised() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("__cluster_metadata-0")).unwrap();
        assert!(matches!(
            check(tmp.path()),
            Err(DataDirError::KafkaDataDir { .. })
        ));
    }
}
