//! A full disk: appends fail with an error (never a SIGBUS), earlier data stays readable, and the
//! log reopens cleanly. Needs root to mount a small tmpfs; otherwise it says why and passes.

use std::process::Command;

use gregor_storage::batch::{build_test_batch, parse_and_verify};
use gregor_storage::{FsyncPolicy, LogConfig, LogManager, StorageError, TopicPartition};

struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn mount_tmpfs(size: &str) -> Option<Tmpfs> {
    let dir = tempfile::tempdir().ok()?;
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .output()
        .ok()?;
    if !status.status.success() {
        eprintln!(
            "skipping disk-full test: cannot mount tmpfs ({})",
            String::from_utf8_lossy(&status.stderr).trim()
        );
        return None;
    }
    Some(Tmpfs(dir))
}

#[test]
fn full_disk_fails_appends_and_keeps_data() {
    let Some(fs) = mount_tmpfs("3m") else { return };
    let config = LogConfig {
        segment_bytes: 64 << 20,
        fsync: FsyncPolicy::Always,
        ..LogConfig::default()
    };
    let tp = TopicPartition::new("full", 0);
    let batch = build_test_batch(8, 1000, 1);
    let mut appended = 0;
    {
        let manager = LogManager::open(fs.0.path(), config.clone()).unwrap();
        let log = manager.get_or_create(&tp, config.clone()).unwrap();
        let err = loop {
            match log.append(&batch, 0) {
                Ok(_) => appended += 1,
                Err(e) => break e,
            }
            assert!(appended < 10_000, "a 3 MiB disk never filled up");
        };
        assert!(
            matches!(err, StorageError::Io { .. }),
            "unexpected error {err}"
        );
        assert!(
            err.to_string().contains("No space left"),
            "error names the cause: {err}"
        );
        // Still readable, still accepting nothing, still consistent.
        assert_eq!(log.log_end_offset(), appended * 8);
        let read = log.read(0, 1 << 20).unwrap();
        parse_and_verify(&read.records).unwrap();
        assert!(log.append(&batch, 0).is_err());
        manager.shutdown().unwrap();
    }
    let manager = LogManager::open(fs.0.path(), config.clone()).unwrap();
    assert!(manager.was_clean_shutdown());
    let log = manager.get(&tp).unwrap();
    assert_eq!(log.log_end_offset(), appended * 8);
    let mut offset = 0;
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20).unwrap();
        let mut pos = 0;
        while pos < read.records.len() {
            let h = parse_and_verify(&read.records[pos..]).unwrap();
            pos += h.size;
            offset = h.next_offset();
        }
    }
    println!(
        "disk full after {appended} batches of {} bytes",
        batch.len()
    );
}
