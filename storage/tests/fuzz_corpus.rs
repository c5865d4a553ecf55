//! The storage half of the record-batch fuzz target on stable Rust, for CI: the committed corpus
//! in `fuzz/corpus/record_batch/` is replayed through the same entry point, then random bytes
//! around valid batches. `fuzz/README.md` says how to run the real fuzzer for longer.

use std::path::Path;

use gregor_storage::batch::build_test_batch;
use gregor_storage::fuzzing;
use proptest::prelude::*;

#[test]
fn record_batch_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/record_batch");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let bytes = std::fs::read(&path).expect("corpus file");
        let result = std::panic::catch_unwind(|| fuzzing::batches(&bytes));
        assert!(result.is_ok(), "{} fails", path.display());
        replayed += 1;
    }
    assert!(replayed > 0, "empty corpus");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_batches(count in 1..5i32, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = build_test_batch(count, 3, 1000);
        for (at, byte) in edits {
            let i = at.index(b.len());
            b[i] = byte;
        }
        fuzzing::batches(&b);
    }
}
