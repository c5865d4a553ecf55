//! With `--fsync-always` a consumer never reads a record before an fsync covers it: the high
//! watermark moves after the fsync, as in Kafka with `flush.messages=1`. A small LD_PRELOAD
//! shim (built here with the system C compiler) holds every `fdatasync` of the broker while a
//! gate file is missing, so the test can look at the log while a produce waits for its fsync:
//! fetches in that window must return nothing, and the record appears once the gate opens.
//! Before the fix a fetch in that window returned the record that a power cut could still take
//! back. Needs a C compiler (`cc`); without one the test is skipped with the reason printed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_itests::raw::messages::{ApiKey, FetchRequest, FetchResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::record_batch::encode_records;
use gregor_protocol::StrBytes;

const TOPIC: &str = "durable";

/// fdatasync that waits while the file named by `GREGOR_TEST_FSYNC_GATE` does not exist.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
int fdatasync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *gate = getenv("GREGOR_TEST_FSYNC_GATE");
    struct stat st;
    while (gate && stat(gate, &st) != 0) usleep(1000);
    return real(fd);
}
"#;

fn build_shim(dir: &Path) -> anyhow::Result<Option<std::path::PathBuf>> {
    let source = dir.join("gate.c");
    let library = dir.join("gate.so");
    std::fs::write(&source, SHIM)?;
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output();
    match built {
        Ok(out) if out.status.success() => Ok(Some(library)),
        Ok(out) => {
            println!(
                "skipping: cc failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(None)
        }
        Err(e) => {
            println!("skipping: no C compiler ({e})");
            Ok(None)
        }
    }
}

/// Record bytes a Fetch from offset 0 of partition 0 returns now.
fn fetched_bytes(client: &mut RawClient) -> anyhow::Result<usize> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(StrBytes::from_static_str(TOPIC).into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = client.call(ApiKey::Fetch, 11, &request)?;
    let partition = &response.responses[0].partitions[0];
    anyhow::ensure!(
        partition.error_code == 0,
        "fetch error {}",
        partition.error_code
    );
    Ok(partition.records.as_ref().map_or(0, |r| r.len()))
}

#[test]
fn a_record_is_not_served_before_its_fsync() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let Some(shim) = build_shim(scratch.path())? else {
        return Ok(());
    };
    let gate = scratch.path().join("gate-open");
    std::fs::write(&gate, b"")?;
    let broker = TestBroker::start_with_env(
        &["--fsync-always"],
        &[
            ("LD_PRELOAD", &shim.display().to_string()),
            ("GREGOR_TEST_FSYNC_GATE", &gate.display().to_string()),
        ],
    )?;
    let b = broker.bootstrap();
    // Created, and a first record synced, while the gate is open.
    tokio::runtime::Runtime::new()?.block_on(create_topic(&b, TOPIC, 1))?;
    let mut admin = RawClient::connect(&b)?;
    let (code, _) = admin.produce(TOPIC, -1, encode_records(-1, &[(None, Some(b"warm-up"))]))?;
    anyhow::ensure!(code == 0, "first produce answered {code}");
    let before = fetched_bytes(&mut admin)?;
    anyhow::ensure!(before > 0, "the first record is not served");

    // Close the gate: the next append's fsync waits.
    std::fs::remove_file(&gate)?;
    let producer = std::thread::spawn({
        let b = b.clone();
        move || -> anyhow::Result<i16> {
            let mut client = RawClient::connect(&b)?;
            client.set_read_timeout(Duration::from_secs(60))?;
            Ok(client
                .produce(TOPIC, -1, encode_records(-1, &[(None, Some(b"durable"))]))?
                .0)
        }
    });
    // While the fsync is held, no fetch may return the new record.
    for _ in 0..30 {
        let now = fetched_bytes(&mut admin)?;
        anyhow::ensure!(
            now == before,
            "a fetch returned {now} record bytes (was {before}) while the produce's fsync was still pending"
        );
        anyhow::ensure!(
            !producer.is_finished(),
            "the produce was acknowledged before its fsync"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(&gate, b"")?;
    let code = producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    anyhow::ensure!(code == 0, "the produce answered {code}");
    anyhow::ensure!(
        fetched_bytes(&mut admin)? > before,
        "the record is not served after its fsync"
    );
    Ok(())
}
