//! The broker's own counters for `/metrics`: requests and their latency per API, and open
//! connections. Recorded on the request path, so they are plain atomics indexed by API key (no
//! lock, no allocation); the exposition text is built at scrape time. Kafka counterpart: the
//! `RequestMetrics` and `SocketServer` JMX beans (`kafka.network:type=RequestMetrics,...`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// API keys up to this one are counted (Kafka 4.4's highest is below it); others are not.
const MAX_API_KEY: usize = 96;

/// Latency bucket bounds in microseconds (Prometheus `le`, in seconds when written).
const BUCKETS_MICROS: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 500_000, 1_000_000,
];

/// One API's counters.
struct ApiCounters {
    /// Requests answered (or dropped with acks=0).
    count: AtomicU64,
    /// Total handling time, microseconds.
    micros: AtomicU64,
    /// Requests per latency bucket (not cumulative; the last slot is above every bound).
    buckets: [AtomicU64; BUCKETS_MICROS.len() + 1],
}

/// Every counter the request path records.
pub struct RequestMetrics {
    apis: [ApiCounters; MAX_API_KEY + 1],
    /// Connections open now.
    connections: AtomicU64,
    /// Connections accepted since start.
    connections_accepted: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const API_ZERO: ApiCounters = ApiCounters {
    count: ZERO,
    micros: ZERO,
    buckets: [ZERO; BUCKETS_MICROS.len() + 1],
};

/// The broker's counters (one broker per process).
pub static METRICS: RequestMetrics = RequestMetrics {
    apis: [API_ZERO; MAX_API_KEY + 1],
    connections: ZERO,
    connections_accepted: ZERO,
};

impl RequestMetrics {
    /// Counts one request of `api_key` handled in `micros`.
    pub fn record_request(&self, api_key: i16, micros: u64) {
        let Some(api) = usize::try_from(api_key).ok().and_then(|k| self.apis.get(k)) else {
            return;
        };
        api.count.fetch_add(1, Ordering::Relaxed);
        api.micros.fetch_add(micros, Ordering::Relaxed);
        let slot = BUCKETS_MICROS
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(BUCKETS_MICROS.len());
        api.buckets[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection opened.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed.
    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Appends the request and connection metrics in Prometheus' text format; `name_of` names
    /// an API key (`Produce`), `None` for keys that are not APIs.
    pub fn write(&self, out: &mut String, name_of: impl Fn(i16) -> Option<&'static str>) {
        let _ = writeln!(
            out,
            "# HELP kafka_network_requests_total Requests handled, by API."
        );
        let _ = writeln!(out, "# TYPE kafka_network_requests_total counter");
        let used: Vec<(&'static str, &ApiCounters)> = self
            .apis
            .iter()
            .enumerate()
            .filter(|(_, a)| a.count.load(Ordering::Relaxed) > 0)
            .filter_map(|(k, a)| Some((name_of(k as i16)?, a)))
            .collect();
        for (name, api) in &used {
            let _ = writeln!(
                out,
                "kafka_network_requests_total{{request=\"{name}\"}} {}",
                api.count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kafka_network_request_duration_seconds Time from a request's arrival to its answer, by API."
        );
        let _ = writeln!(
            out,
            "# TYPE kafka_network_request_duration_seconds histogram"
        );
        for (name, api) in &used {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS_MICROS.iter().enumerate() {
                cumulative += api.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "kafka_network_request_duration_seconds_bucket{{request=\"{name}\",le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += api.buckets[BUCKETS_MICROS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "kafka_network_request_duration_seconds_bucket{{request=\"{name}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "kafka_network_request_duration_seconds_sum{{request=\"{name}\"}} {}",
                api.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "kafka_network_request_duration_seconds_count{{request=\"{name}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP kafka_server_connections Client connections open now."
        );
        let _ = writeln!(out, "# TYPE kafka_server_connections gauge");
        let _ = writeln!(
            out,
            "kafka_server_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kafka_server_connections_accepted_total Client connections accepted since start."
        );
        let _ = writeln!(
            out,
            "# TYPE kafka_server_connections_accepted_total counter"
        );
        let _ = writeln!(
            out,
            "kafka_server_connections_accepted_total {}",
            self.connections_accepted.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_every_request() {
        let m = RequestMetrics {
            apis: [API_ZERO; MAX_API_KEY + 1],
            connections: ZERO,
            connections_accepted: ZERO,
        };
        m.record_request(0, 50);
        m.record_request(0, 3_000);
        m.record_request(0, 5_000_000);
        m.record_request(-1, 10);
        m.record_request(500, 10);
        let mut out = String::new();
        m.write(&mut out, |k| (k == 0).then_some("Produce"));
        assert!(out.contains("kafka_network_requests_total{request=\"Produce\"} 3\n"));
        assert!(
            out.contains("request_duration_seconds_bucket{request=\"Produce\",le=\"0.0001\"} 1\n")
        );
        assert!(
            out.contains("request_duration_seconds_bucket{request=\"Produce\",le=\"0.005\"} 2\n")
        );
        assert!(
            out.contains("request_duration_seconds_bucket{request=\"Produce\",le=\"+Inf\"} 3\n")
        );
        assert!(out.contains("request_duration_seconds_count{request=\"Produce\"} 3\n"));
    }
}
