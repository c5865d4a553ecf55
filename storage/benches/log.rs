//! Append and read throughput of the partition log, in bytes per second.
//!
//! `cargo bench -p gregor-storage --bench log`. Targets on a 2-core machine (issue 2): append at
//! least 1 GB/s without fsync, read at least 3 GB/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gregor_storage::batch::build_test_batch;
use gregor_storage::{FsyncPolicy, LogConfig, LogManager, TopicPartition};

/// A batch of about `size` bytes made of 1 KiB records (or one record when smaller).
fn batch_of(size: usize) -> Vec<u8> {
    let records = (size / 1024).max(1);
    build_test_batch(records as i32, size / records - 20, 1_700_000_000_000)
}

/// A fresh log in its own temporary directory.
struct BenchLog {
    _dir: tempfile::TempDir,
    _manager: LogManager,
    log: std::sync::Arc<gregor_storage::PartitionLog>,
}

fn bench_log(config: &LogConfig) -> BenchLog {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("bench", 0), config.clone())
        .unwrap();
    BenchLog {
        _dir: dir,
        _manager: manager,
        log,
    }
}

/// Appends are timed against a log that is replaced (untimed) every 128 MiB: on a VM, page
/// cache pages that were never touched before cost far more than recycled ones, and a broker's
/// steady state recycles the pages of deleted segments.
fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    for (policy, name) in [(FsyncPolicy::Os, "os"), (FsyncPolicy::Always, "fsync")] {
        for size in [1024usize, 16 * 1024] {
            let config = LogConfig {
                fsync: policy,
                segment_bytes: 64 << 20,
                ..LogConfig::default()
            };
            let batch = batch_of(size);
            let mut current = bench_log(&config);
            group.throughput(Throughput::Bytes(batch.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &batch, |b, batch| {
                b.iter_custom(|iters| {
                    let mut total = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        if current.log.size_bytes() > 128 << 20 {
                            current = bench_log(&config);
                        }
                        let start = std::time::Instant::now();
                        current.log.append(batch, 0).unwrap();
                        total += start.elapsed();
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("bench", 0), LogConfig::default())
        .unwrap();
    let batch = batch_of(16 * 1024);
    for _ in 0..8192 {
        log.append(&batch, 0).unwrap();
    }
    let end = log.log_end_offset();
    let max_bytes = 1 << 20;
    group.throughput(Throughput::Bytes(max_bytes as u64));
    group.bench_function("1MiB-fetches", |b| {
        let mut offset = 0;
        b.iter(|| {
            let read = log.read(offset, max_bytes).unwrap();
            // Touch every byte, as a socket write would, so the figure is not just pointer math.
            let sum = read
                .records
                .chunks_exact(8)
                .fold(0u64, |a, c| a ^ u64::from_ne_bytes(c.try_into().unwrap()));
            offset = if offset + 1000 >= end {
                0
            } else {
                offset + 1000
            };
            sum
        });
    });
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
