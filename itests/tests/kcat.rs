//! kcat (librdkafka 2.0 from Debian): `-L` lists the broker and topics, `-P` then `-C -e`
//! round-trips records.

use std::io::Write;
use std::process::{Command, Stdio};

use gregor_itests::TestBroker;

fn kcat() -> Option<&'static str> {
    if Command::new("kcat").arg("-V").output().is_ok() {
        return Some("kcat");
    }
    if std::env::var("GREGOR_SKIP_KCAT").as_deref() == Ok("1") {
        eprintln!("skipping: kcat not installed and GREGOR_SKIP_KCAT=1");
        return None;
    }
    panic!("kcat is not installed (apt-get install kcat; the README test command does it)");
}

fn run(args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
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
    if let Some(input) = input {
        stdin.write_all(input.as_bytes())?;
    }
    drop(stdin);
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn kcat_lists_produces_and_consumes() -> anyhow::Result<()> {
    let Some(_) = kcat() else { return Ok(()) };
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    run(
        &["-b", &b, "-P", "-t", "lines", "-K", ":"],
        Some("k1:one\nk2:two\nk3:three\n"),
    )?;
    let listing = run(&["-b", &b, "-L"], None)?;
    assert!(listing.contains(&format!("broker 1 at {b}")), "{listing}");
    assert!(
        listing.contains("topic \"lines\" with 1 partitions"),
        "{listing}"
    );
    let consumed = run(
        &[
            "-b",
            &b,
            "-C",
            "-t",
            "lines",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s@%o\n",
        ],
        None,
    )?;
    assert_eq!(consumed, "k1=one@0\nk2=two@1\nk3=three@2\n");
    Ok(())
}
