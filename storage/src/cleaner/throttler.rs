//! Keeps the cleaners' I/O under `log.cleaner.io.max.bytes.per.second`, all threads together;
//! Kafka's `Throttler`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A shared byte budget per second.
#[derive(Debug)]
pub struct Throttler {
    bytes_per_second: f64,
    /// Start of the current measuring window and the bytes spent in it.
    window: Mutex<(Instant, f64)>,
}

/// How long a window runs before it is checked, as Kafka checks every 300 ms.
const CHECK_INTERVAL: Duration = Duration::from_millis(300);

impl Throttler {
    /// A throttler allowing `bytes_per_second` (`f64::MAX` or more: no limit).
    pub fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            bytes_per_second,
            window: Mutex::new((Instant::now(), 0.0)),
        }
    }

    /// Counts `bytes` of I/O, sleeping as long as needed to stay under the rate.
    pub fn spend(&self, bytes: u64) {
        if !(self.bytes_per_second.is_finite() && self.bytes_per_second < 1e300) {
            return;
        }
        let sleep = {
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            window.1 += bytes as f64;
            let elapsed = window.0.elapsed();
            if elapsed < CHECK_INTERVAL {
                return;
            }
            let allowed = self.bytes_per_second * elapsed.as_secs_f64();
            let over = (window.1 - allowed).max(0.0);
            *window = (Instant::now(), 0.0);
            Duration::from_secs_f64(over / self.bytes_per_second.max(1.0))
        };
        if !sleep.is_zero() {
            std::thread::sleep(sleep.min(Duration::from_secs(60)));
        }
    }
}
