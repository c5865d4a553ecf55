//! Past the descriptor budget an active segment keeps no descriptor, and its log still takes
//! appends, rolls, syncs, serves reads and reopens as one that keeps its descriptor. Its own
//! test binary: the budget is process-wide.

use gregor_storage::batch::build_test_batch;
use gregor_storage::mapped_file::{kept_descriptors, set_descriptor_budget};
use gregor_storage::{LogManager, TopicPartition};

mod common;

#[test]
fn logs_past_the_descriptor_budget_keep_none_and_work_alike() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_segments();
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    // One descriptor left: the first partition's active segment keeps it, the second's none.
    set_descriptor_budget(kept_descriptors() + 1);
    let kept = manager
        .get_or_create(&TopicPartition::new("budget", 0), config.clone())
        .unwrap();
    let brief = manager
        .get_or_create(&TopicPartition::new("budget", 1), config.clone())
        .unwrap();
    let descriptors = |log: &gregor_storage::PartitionLog| {
        log.segments()
            .iter()
            .map(|s| s.open_descriptors())
            .sum::<usize>()
    };
    assert_eq!(descriptors(&kept), 1);
    assert_eq!(descriptors(&brief), 0);
    for i in 0..100 {
        for log in [&kept, &brief] {
            log.append(&build_test_batch(3, 200, 1_000 + i), 0).unwrap();
        }
    }
    assert!(brief.segments().len() > 3, "rolled");
    brief.flush().unwrap();
    let (kept_bytes, kept_end) = common::read_checked(&kept, 0, 1 << 20);
    let (brief_bytes, brief_end) = common::read_checked(&brief, 0, 1 << 20);
    assert_eq!(brief_end, 300);
    assert_eq!(kept_end, brief_end);
    assert_eq!(kept_bytes, brief_bytes);
    manager.shutdown().unwrap();
    drop((kept, brief, manager));

    // Reopened with the budget back: the same batches, and the active segment keeps one.
    set_descriptor_budget(usize::MAX);
    let manager = LogManager::open(dir.path(), config).unwrap();
    let brief = manager.get(&TopicPartition::new("budget", 1)).unwrap();
    assert_eq!(common::read_checked(&brief, 0, 1 << 20), (brief_bytes, 300));
    assert_eq!(descriptors(&brief), 1);
}
