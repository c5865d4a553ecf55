//! File names of the data directory and partition folders, as Kafka names them.

use std::path::{Path, PathBuf};

/// Suffix of a segment's record file.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of a segment's offset index.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of a segment's time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix of a segment's aborted-transaction index (present once it has an entry).
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Added to a segment's file names while the log cleaner writes its cleaned copy.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Added to a cleaned segment's file names once it is complete and synced: the commit point
/// of a cleaning; recovery finishes the swap from here.
pub const SWAP_SUFFIX: &str = ".swap";
/// Added to a replaced segment's file names before they are removed.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Per data dir: the offset up to which each compacted partition has been cleaned (Kafka's
/// first dirty offset).
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Suffix of a partition folder scheduled for deletion.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Lock file held (flock) while a broker runs on the data dir.
pub const LOCK_FILE: &str = ".lock";
/// Written at a clean shutdown, removed at start: its absence means recovery must scan.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Per data dir: the offset up to which each partition is known to be flushed.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Per data dir: the log start offset of each partition (kept across restarts).
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";

/// `{base_offset:020}` followed by `suffix`, inside `dir`.
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}{suffix}"))
}

/// The base offset of a segment file name such as `00000000000000000042.log`.
pub fn parse_base_offset(file_name: &str, suffix: &str) -> Option<i64> {
    let stem = file_name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The folder name of a partition: `{topic}-{partition}`.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits a partition folder name at its last `-` into topic and partition.
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, partition.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let p = segment_file(Path::new("/d"), 42, LOG_SUFFIX);
        assert_eq!(p, Path::new("/d/00000000000000000042.log"));
        assert_eq!(
            parse_base_offset("00000000000000000042.log", LOG_SUFFIX),
            Some(42)
        );
        assert_eq!(parse_base_offset("42.log", LOG_SUFFIX), None);
        assert_eq!(
            parse_partition_dir_name("my-topic-3"),
            Some(("my-topic", 3))
        );
        assert_eq!(parse_partition_dir_name("topic-x"), None);
        assert_eq!(parse_partition_dir_name("-3"), None);
    }
}
