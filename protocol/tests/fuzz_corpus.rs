//! The fuzz targets' checks on stable Rust, for CI (which may have neither nightly nor
//! cargo-fuzz): the committed corpus of each target in `fuzz/corpus/` is replayed through the
//! same entry points, then a few thousand mutations of valid requests of every accepted API and
//! version. `fuzz/README.md` says how to run the real fuzzers for longer.

mod common;

use std::path::{Path, PathBuf};

use gregor_protocol::fuzzing;
use proptest::prelude::*;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for (path, bytes) in files {
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
    }
}

#[test]
fn frame_corpus() {
    replay("frame", fuzzing::frames);
}

#[test]
fn request_corpus() {
    replay("request", fuzzing::request);
}

#[test]
fn record_batch_corpus() {
    replay("record_batch", fuzzing::batches);
}

fn valid_frames() -> Vec<Vec<u8>> {
    common::accepted()
        .into_iter()
        .map(|(api, version)| common::request_frame(api, version, 7))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Valid requests with bytes flipped, inserted and deleted: what a broken or hostile client
    /// sends most often, and what random bytes rarely reach.
    #[test]
    fn mutated_requests(which in any::<prop::sample::Index>(), edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<u8>()), 1..6)) {
        let frames = valid_frames();
        let mut frame = frames[which.index(frames.len())].clone();
        for (at, kind, byte) in edits {
            let pos = at.index(frame.len() + 1);
            match kind {
                0 if pos < frame.len() => frame[pos] ^= byte | 1,
                1 => frame.insert(pos, byte),
                _ if pos < frame.len() => { frame.remove(pos); }
                _ => {}
            }
        }
        fuzzing::request(&frame);
        let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&frame);
        framed.splice(0..0, [7u8, 3]);
        fuzzing::frames(&framed);
    }

    #[test]
    fn random_batches(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::batches(&bytes);
    }
}

/// Writes the seed corpus: a valid frame of every accepted API and version, framed and bare,
/// and a few valid batches. Run by hand before fuzzing a new API:
/// `GREGOR_SEEDS=fuzz/corpus cargo test -p gregor-protocol --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seeds() {
    let root = PathBuf::from(std::env::var("GREGOR_SEEDS").expect("GREGOR_SEEDS=<dir>"));
    for target in ["frame", "request", "record_batch"] {
        std::fs::create_dir_all(root.join(target)).expect("corpus dir");
    }
    for (api, version) in common::accepted() {
        let frame = common::request_frame(api, version, 7);
        let name = format!("seed-{api:?}-v{version}");
        std::fs::write(root.join("request").join(&name), &frame).expect("write");
        let mut framed = vec![16, 3];
        framed.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        framed.extend_from_slice(&frame);
        std::fs::write(root.join("frame").join(&name), &framed).expect("write");
    }
    let batches = [
        gregor_protocol::record_batch::encode_records(5, &[(Some(b"k"), Some(b"v"))]),
        gregor_protocol::record_batch::encode_records(
            7,
            &[(None, Some(b"value")), (Some(b"key"), None), (None, None)],
        ),
    ];
    for (i, batch) in batches.iter().enumerate() {
        std::fs::write(root.join("record_batch").join(format!("seed-{i}")), batch).expect("write");
    }
}
