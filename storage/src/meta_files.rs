//! Small metadata files of the data dir: atomic replacement and Kafka's offset checkpoints.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StorageError};
use crate::log_manager::TopicPartition;

/// Replaces `path` with `contents` so a crash leaves either the old or the new file: write a
/// temporary file, fsync it, rename it over, fsync the directory.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = File::create(&tmp)
        .map_err(StorageError::io("creating temporary file", &tmp))
        .and_then(|mut file| {
            file.write_all(contents)
                .map_err(StorageError::io("writing temporary file", &tmp))?;
            file.sync_all()
                .map_err(StorageError::io("syncing temporary file", &tmp))
        });
    if let Err(e) = written {
        // On a full disk the partial file would hold on to space the logs need.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(StorageError::io("renaming temporary file", path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory, so a file created, renamed or deleted in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("syncing directory", dir))
}

/// Writes an offset checkpoint in Kafka's text layout: version `0`, the entry count, then one
/// `topic partition offset` line per partition.
pub fn write_checkpoint(path: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    let mut text = format!("0\n{}\n", offsets.len());
    for (tp, offset) in offsets {
        text.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, offset));
    }
    write_atomically(path, text.as_bytes())
}

/// Reads an offset checkpoint; a missing or malformed file reads as empty (recovery then scans).
pub fn read_checkpoint(path: &Path) -> BTreeMap<TopicPartition, i64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        tracing::warn!(file = %path.display(), "ignoring checkpoint of unknown version");
        return BTreeMap::new();
    }
    let _count = lines.next();
    let mut out = BTreeMap::new();
    for line in lines {
        let mut parts = line.rsplitn(3, ' ');
        let (Some(offset), Some(partition), Some(topic)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let (Ok(offset), Ok(partition)) = (offset.parse(), partition.parse()) {
            out.insert(TopicPartition::new(topic, partition), offset);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let mut offsets = BTreeMap::new();
        offsets.insert(TopicPartition::new("a-b", 3), 42);
        offsets.insert(TopicPartition::new("c", 0), 0);
        write_checkpoint(&path, &offsets).unwrap();
        assert_eq!(read_checkpoint(&path), offsets);
        assert!(read_checkpoint(&dir.path().join("missing")).is_empty());
    }
}
