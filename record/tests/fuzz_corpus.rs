//! The cleaner fuzz target on stable Rust, for CI: the committed corpus in
//! `fuzz/corpus/cleaner/` (seeded with the Java client's batches) is replayed through the same
//! entry point, then random damage to those batches. `fuzz/README.md` says how to run the real
//! fuzzer for longer.

use std::path::Path;
use std::sync::OnceLock;

use gregor_record::fuzzing;
use proptest::prelude::*;

/// Every corpus file, read once.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/cleaner");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).expect("corpus file"))
        .collect()
}

#[test]
fn cleaner_corpus() {
    let inputs = corpus();
    assert!(!inputs.is_empty(), "empty corpus");
    for (i, bytes) in inputs.iter().enumerate() {
        let result = std::panic::catch_unwind(|| fuzzing::cleaner(bytes));
        assert!(result.is_ok(), "corpus input {i} fails");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn damaged_batches(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let inputs = corpus();
        let mut b = inputs[pick.index(inputs.len())].clone();
        for (at, byte) in edits {
            // Past the header mostly: the CRC is made right by the entry point, so the
            // damage reaches the compressed stream and the records.
            let i = at.index(b.len());
            b[i] = byte;
        }
        fuzzing::cleaner(&b);
    }
}
