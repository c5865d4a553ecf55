//! Concurrent writers and readers: offsets stay dense, readers never see a half-written batch,
//! and with `FsyncPolicy::Always` concurrent appends share fsyncs (group commit).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gregor_storage::batch::{build_test_batch, parse_and_verify};
use gregor_storage::{FsyncPolicy, LogConfig, LogManager, TopicPartition};

#[test]
fn writers_and_readers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 256 * 1024,
        fsync: FsyncPolicy::Always,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("c", 0), config)
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                let end = log.log_end_offset();
                let mut offset = 0;
                while offset < end {
                    let read = log.read(offset, 64 * 1024).unwrap();
                    let mut pos = 0;
                    while pos < read.records.len() {
                        let h = parse_and_verify(&read.records[pos..])
                            .expect("readers see whole batches");
                        assert!(h.base_offset <= offset.max(h.base_offset));
                        pos += h.size;
                        offset = h.next_offset();
                    }
                    reads += 1;
                }
            }
            reads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut offsets = Vec::new();
                for i in 0..300 {
                    let batch = build_test_batch(1 + (i % 5), 50 + w * 10, i64::from(i));
                    let info = log.append(&batch, 0).unwrap();
                    assert!(
                        log.recovery_point() > info.last_offset,
                        "acked only after an fsync covered it"
                    );
                    offsets.push((info.base_offset, info.last_offset));
                }
                offsets
            })
        })
        .collect();
    let mut all: Vec<(i64, i64)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);
    all.sort();
    let mut next = 0;
    for (base, last) in all {
        assert_eq!(base, next, "offsets are dense and unique");
        next = last + 1;
    }
    assert_eq!(log.log_end_offset(), next);
}
