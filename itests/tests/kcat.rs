//! kcat (librdkafka 2.0 from Debian): `-L` lists the broker and topics, `-P` then `-C -e`
//! round-trips records, uncompressed and with each codec (librdkafka 2.0 enables gzip and snappy
//! only if the broker advertises Produce from version 0, and zstd only from 7).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use gregor_itests::clients::create_topic;
use gregor_itests::TestBroker;

/// Whether to run: kcat is installed, or GREGOR_SKIP_KCAT=1 says to skip. Otherwise fail: the
/// README test command installs kcat, so a missing one is a broken set-up, not a skip.
fn kcat_available() -> bool {
    let installed = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if installed {
        return true;
    }
    if std::env::var("GREGOR_SKIP_KCAT").as_deref() == Ok("1") {
        eprintln!("skipping: kcat not installed and GREGOR_SKIP_KCAT=1");
        return false;
    }
    panic!(
        "kcat is not installed: `apt-get install kcat` (./test.sh does it), \
         or set GREGOR_SKIP_KCAT=1 to skip this test"
    );
}

/// Runs kcat with `args` and `input` on stdin; fails on a non-zero exit or after 30 s.
fn kcat(args: &[&str], input: &str) -> anyhow::Result<String> {
    // cargo test puts the bundled librdkafka of rdkafka-sys on LD_LIBRARY_PATH; drop it so kcat
    // runs on Debian's librdkafka, the old client this test is about.
    let mut child = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(input.as_bytes())?;
    drop(stdin);
    // Read both pipes on their own threads so a chatty kcat cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "kcat {args:?} still running after 30 s; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        bail!("kcat {args:?} exited with {status}; stderr:\n{stderr}");
    }
    Ok(stdout)
}

fn consume_all(bootstrap: &str, topic: &str) -> anyhow::Result<String> {
    let args = [
        "-b",
        bootstrap,
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-f",
        "%k=%s@%o\n",
    ];
    kcat(&args, "")
}

#[tokio::test(flavor = "multi_thread")]
async fn kcat_lists_produces_and_consumes() -> anyhow::Result<()> {
    if !kcat_available() {
        return Ok(());
    }
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "orders", 3).await?;
    // "lines" is created on first use, with the broker's default of one partition.
    kcat(
        &["-b", &b, "-P", "-t", "lines", "-K", ":"],
        "k1:one\nk2:two\nk3:three\n",
    )?;
    let listing = kcat(&["-b", &b, "-L"], "")?;
    assert!(listing.contains(&format!("broker 1 at {b}")), "{listing}");
    assert!(
        listing.contains("topic \"lines\" with 1 partitions"),
        "{listing}"
    );
    assert!(
        listing.contains("topic \"orders\" with 3 partitions"),
        "{listing}"
    );
    assert_eq!(
        consume_all(&b, "lines")?,
        "k1=one@0\nk2=two@1\nk3=three@2\n"
    );
    Ok(())
}

#[test]
fn kcat_round_trips_every_codec() -> anyhow::Result<()> {
    if !kcat_available() {
        return Ok(());
    }
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let input: String = (0..50).map(|i| format!("k{i}:value-{i}\n")).collect();
    let expected: String = (0..50).map(|i| format!("k{i}=value-{i}@{i}\n")).collect();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        kcat(
            &["-b", &b, "-P", "-t", &topic, "-K", ":", "-z", codec],
            &input,
        )?;
        assert_eq!(consume_all(&b, &topic)?, expected, "codec {codec}");
    }
    Ok(())
}
