//! The broker's own counters for `/metrics`: requests and their latency per API, open
//! connections, and records and bytes in and out per topic. Recorded on the request path, so
//! they are plain atomics indexed by API key (no lock, no allocation), and per topic atomics
//! found under a read lock (written once per topic); the exposition text is built at scrape
//! time. Kafka counterparts: the `RequestMetrics`, `SocketServer` and `BrokerTopicMetrics` JMX
//! beans (`kafka.network:type=RequestMetrics,...`, `kafka.server:type=BrokerTopicMetrics,...`).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

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

/// One topic's traffic since start.
#[derive(Default)]
struct TopicCounters {
    /// Records appended by producers.
    messages_in: AtomicU64,
    /// Bytes of record batches appended by producers.
    bytes_in: AtomicU64,
    /// Records sent to fetchers.
    messages_out: AtomicU64,
    /// Bytes of record batches sent to fetchers.
    bytes_out: AtomicU64,
}

/// A per-topic counter family: name, help, and the value of a topic.
type TrafficFamily = (&'static str, &'static str, fn(&TopicCounters) -> u64);

/// Traffic per topic.
#[derive(Default)]
pub struct TopicTraffic {
    /// By topic name; an entry is added at a topic's first produce or fetch, never removed
    /// (a deleted topic's counters stay, as a counter must not go back).
    topics: RwLock<HashMap<String, Arc<TopicCounters>>>,
}

/// The broker's per-topic traffic (one broker per process).
pub static TRAFFIC: LazyLock<TopicTraffic> = LazyLock::new(TopicTraffic::default);

/// Records in whole v2 batches, from their headers (the record count at byte 57), leaving out
/// control batches (transaction markers are not messages).
pub fn records_in_batches(mut batches: &[u8]) -> u64 {
    let mut n = 0;
    while batches.len() >= 61 {
        let length = i32::from_be_bytes([batches[8], batches[9], batches[10], batches[11]]);
        let Some(size) = usize::try_from(length).ok().map(|l| l + 12) else {
            break;
        };
        let control = batches[22] & 0x20 != 0;
        if !control {
            let count = i32::from_be_bytes([batches[57], batches[58], batches[59], batches[60]]);
            n += u64::try_from(count).unwrap_or(0);
        }
        if size > batches.len() {
            break;
        }
        batches = &batches[size..];
    }
    n
}

impl TopicTraffic {
    fn counters(&self, topic: &str) -> Arc<TopicCounters> {
        if let Some(c) = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
        {
            return c.clone();
        }
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic.to_string())
            .or_default()
            .clone()
    }

    /// Producers appended `messages` records in `bytes` to `topic`.
    pub fn produced(&self, topic: &str, messages: u64, bytes: u64) {
        let c = self.counters(topic);
        c.messages_in.fetch_add(messages, Ordering::Relaxed);
        c.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A fetch sent `batches` of `topic`.
    pub fn fetched(&self, topic: &str, batches: &[u8]) {
        if batches.is_empty() {
            return;
        }
        let c = self.counters(topic);
        c.messages_out
            .fetch_add(records_in_batches(batches), Ordering::Relaxed);
        c.bytes_out
            .fetch_add(batches.len() as u64, Ordering::Relaxed);
    }

    /// Appends the per-topic counters in Prometheus' text format, under the JMX exporter's
    /// names for Kafka's BrokerTopicMetrics.
    pub fn write(&self, out: &mut String) {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = topics.keys().collect();
        names.sort();
        let families: [TrafficFamily; 4] = [
            (
                "kafka_server_brokertopicmetrics_messagesin_total",
                "Records producers appended to the topic.",
                |c| c.messages_in.load(Ordering::Relaxed),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesin_total",
                "Bytes of record batches producers appended to the topic.",
                |c| c.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "kafka_server_brokertopicmetrics_messagesout_total",
                "Records of the topic sent to fetchers (Gregor's; Kafka counts only bytes out).",
                |c| c.messages_out.load(Ordering::Relaxed),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesout_total",
                "Bytes of record batches of the topic sent to fetchers.",
                |c| c.bytes_out.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for topic in &names {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\"}} {}",
                    super::views::escape(topic),
                    value(&topics[*topic])
                );
            }
        }
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

    #[test]
    fn batch_headers_count_records_and_skip_control_batches() {
        let batch = |records: i32, control: bool| {
            let mut b = vec![0u8; 70];
            b[8..12].copy_from_slice(&(70 - 12i32).to_be_bytes());
            if control {
                b[22] = 0x20;
            }
            b[57..61].copy_from_slice(&records.to_be_bytes());
            b
        };
        let mut all = batch(3, false);
        all.extend(batch(1, true));
        all.extend(batch(5, false));
        assert_eq!(records_in_batches(&all), 8);
        // A last batch cut off after its header still counts (a fetch may end inside one);
        // one cut off inside its header does not.
        assert_eq!(records_in_batches(&all[..205]), 8);
        assert_eq!(records_in_batches(&all[..150]), 3);
        assert_eq!(records_in_batches(&all[..40]), 0);
        let t = TopicTraffic::default();
        t.produced("a", 2, 100);
        t.fetched("a", &all);
        let mut out = String::new();
        t.write(&mut out);
        assert!(out.contains("kafka_server_brokertopicmetrics_messagesin_total{topic=\"a\"} 2\n"));
        assert!(out.contains("kafka_server_brokertopicmetrics_messagesout_total{topic=\"a\"} 8\n"));
        assert!(out.contains("kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 210\n"));
    }
}
