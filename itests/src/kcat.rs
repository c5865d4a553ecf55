//! Running kcat (Debian's, on its own librdkafka) from the end-to-end tests.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

/// Whether to run: kcat is installed, or GREGOR_SKIP_KCAT=1 says to skip. Otherwise fail: the
/// README test command installs kcat, so a missing one is a broken set-up, not a skip.
pub fn kcat_available() -> bool {
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
pub fn kcat(args: &[&str], input: &str) -> anyhow::Result<String> {
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

/// Everything in `topic` from the beginning to its end, one line per record in kcat's `-f`
/// `format`.
pub fn consume(bootstrap: &str, topic: &str, format: &str) -> anyhow::Result<String> {
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
        format,
    ];
    kcat(&args, "")
}
