//! A reader of Gregor's live view during a benchmark round (`bench --live-view`): what an open
//! page and a Prometheus server cost the broker. It holds the page's event stream
//! (`/api/events`, Server-Sent Events with a snapshot every second) open and reads it, and
//! scrapes `/metrics` once a second, as Prometheus would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::brokers::Running;

/// The readers; they stop when this is dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    /// Bytes read from the event stream and the scrapes.
    bytes: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Watcher {
    /// Starts reading the live view of `broker` (a Gregor).
    pub fn start(broker: &Running) -> anyhow::Result<Watcher> {
        let address = http_address(broker)?;
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let mut events = get(&address, "/api/events")?;
        let (s, b) = (Arc::clone(&stop), Arc::clone(&bytes));
        let stream = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while !s.load(Ordering::Relaxed) {
                match events.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        b.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    // The read timeout: look at the stop flag again.
                    Err(_) => {}
                }
            }
        });
        let (s, b) = (Arc::clone(&stop), Arc::clone(&bytes));
        let scraper = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                if let Ok(mut c) = get(&address, "/metrics") {
                    let mut body = Vec::new();
                    let _ = c.read_to_end(&mut body);
                    b.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
            }
        });
        Ok(Watcher {
            stop,
            bytes,
            threads: vec![stream, scraper],
        })
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Sends `GET path` and returns the connection, positioned after the request.
fn get(address: &str, path: &str) -> anyhow::Result<TcpStream> {
    let mut c = TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    c.set_read_timeout(Some(Duration::from_millis(200)))?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    Ok(c)
}

/// The live view's `host:port`, from the banner in the broker's log.
fn http_address(broker: &Running) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The banner goes to stdout.
        let log = std::fs::read_to_string(broker.dir().join("stdout.log")).unwrap_or_default();
        if let Some(address) = log
            .split("live view: http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
        {
            return Ok(address.to_string());
        }
        if Instant::now() > deadline {
            bail!("no live view in Gregor's banner");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
