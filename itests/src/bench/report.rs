//! The figures of a run: every sample per metric and broker, their medians, the Gregor/Kafka
//! ratio and the target for it (kfake's column, when run, is shown beside them and
//! judged against nothing), written as a Markdown table and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::brokers::Kind;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput.
    Higher,
    /// Time, memory, CPU.
    Lower,
}

/// What the issue asks of a metric (reported, never asserted).
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// No target.
    None,
    /// Gregor/Kafka at least this.
    RatioAtLeast(f64),
    /// Gregor/Kafka at most this.
    RatioAtMost(f64),
    /// Gregor/Kafka at most the first and Gregor's median below the second.
    RatioAtMostAndBelow(f64, f64),
    /// Gregor's median below this.
    Below(f64),
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::None => "—".into(),
            Target::RatioAtLeast(r) => format!("≥ {r}x Kafka"),
            Target::RatioAtMost(r) => format!("≤ {r}x Kafka"),
            Target::RatioAtMostAndBelow(r, v) => format!("≤ {r}x Kafka, < {v} {unit}"),
            Target::Below(v) => format!("< {v} {unit}"),
        }
    }

    /// Met, missed, or unknown (no Kafka figure for a ratio target).
    fn met(self, gregor: Option<f64>, ratio: Option<f64>) -> Option<bool> {
        let g = gregor?;
        match self {
            Target::None => None,
            Target::RatioAtLeast(r) => Some(ratio? >= r),
            Target::RatioAtMost(r) => Some(ratio? <= r),
            Target::RatioAtMostAndBelow(r, v) => match ratio {
                Some(ratio) => Some(ratio <= r && g < v),
                // Without Kafka only the absolute half can be judged, and only as a miss.
                None => (g >= v).then_some(false),
            },
            Target::Below(v) => Some(g < v),
        }
    }
}

/// One reported figure.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Stable key for the JSON.
    pub key: String,
    /// What a reader sees in the table.
    pub label: String,
    /// Unit of the samples.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// The target.
    pub target: Target,
}

/// Every sample of a run, per metric key and broker, in the order they were taken.
#[derive(Debug, Default)]
pub struct Samples {
    values: BTreeMap<String, BTreeMap<Kind, Vec<f64>>>,
}

impl Samples {
    /// Adds one sample.
    pub fn add(&mut self, key: &str, kind: Kind, value: f64) {
        self.values
            .entry(key.to_string())
            .or_default()
            .entry(kind)
            .or_default()
            .push(value);
    }

    fn of(&self, key: &str, kind: Kind) -> &[f64] {
        self.values
            .get(key)
            .and_then(|m| m.get(&kind))
            .map_or(&[], Vec::as_slice)
    }
}

/// Median (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(values: &[f64]) -> String {
    let Some(m) = median(values) else {
        return "—".into();
    };
    if values.len() == 1 {
        return fmt_value(m);
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{} ({}–{})", fmt_value(m), fmt_value(min), fmt_value(max))
}

/// What a run was, for the header of both outputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    /// "quick" or "full".
    pub mode: &'static str,
    /// Rounds asked for.
    pub rounds: usize,
    /// Kafka's version, or why Kafka was not run.
    pub kafka: Result<String, String>,
    /// The kfake version of the third column, or why it was not run.
    pub kfake: Result<String, String>,
    /// `nproc`.
    pub cpus: usize,
    /// `/proc/loadavg` before the first round.
    pub load_before: String,
    /// `/proc/loadavg` after the last round.
    pub load_after: String,
    /// UTC start time.
    pub started_utc: String,
    /// Wall time of the whole run, seconds.
    pub elapsed_s: f64,
    /// What went wrong in which round (the round's remaining scenarios were skipped).
    pub errors: Vec<String>,
    /// Broker process ids, per round, so a test can check they are gone.
    pub pids: Vec<u32>,
    /// The workload sizes.
    pub workload: String,
}

/// The Markdown report: a header, the table, notes on errors.
pub fn markdown(info: &RunInfo, metrics: &[Metric], samples: &Samples) -> String {
    let mut out = String::new();
    let kafka = match &info.kafka {
        Ok(v) => format!("Apache Kafka {v}"),
        Err(why) => format!("Apache Kafka not run: {why}"),
    };
    let kfake = match &info.kfake {
        Ok(v) => format!(
            " franz-go's kfake {v} beside them: an in-memory fake cluster written for client \
             tests, not a broker to keep data in; no target refers to it."
        ),
        Err(why) => format!(" kfake not run: {why}."),
    };
    let with_kfake = info.kfake.is_ok();
    let _ = writeln!(
        out,
        "# Gregor vs Apache Kafka\n\n{} mode, {} rounds, started {} UTC, took {:.0} s. {} CPUs, \
         load average before `{}`, after `{}`. {kafka}.{kfake}\n\n{}\n\nMedians of the rounds \
         (min–max in parentheses).\n",
        info.mode,
        info.rounds,
        info.started_utc,
        info.elapsed_s,
        info.cpus,
        info.load_before.trim(),
        info.load_after.trim(),
        info.workload,
    );
    let (kfake_head, kfake_rule) = if with_kfake {
        (" kfake |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| Scenario | Unit | Gregor | Kafka |{kfake_head} Gregor/Kafka | Target | Met |\n\
         |---|---|---|---|{kfake_rule}---|---|---|"
    );
    for m in metrics {
        let g = samples.of(&m.key, Kind::Gregor);
        let k = samples.of(&m.key, Kind::Kafka);
        let ratio = ratio(g, k);
        let met = match m.target.met(median(g), ratio) {
            Some(true) => "yes",
            Some(false) => "**no**",
            None if matches!(m.target, Target::None) => "",
            None => "n/a",
        };
        let kfake_cell = if with_kfake {
            format!(" {} |", cell(samples.of(&m.key, Kind::Kfake)))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |{kfake_cell} {} | {} | {met} |",
            m.label,
            m.unit,
            cell(g),
            cell(k),
            ratio.map_or("—".into(), |r| format!("{r:.2}x")),
            m.target.describe(m.unit),
        );
    }
    if !info.errors.is_empty() {
        let _ = writeln!(out, "\nErrors (the rest of that round was skipped):\n");
        for e in &info.errors {
            let _ = writeln!(out, "- {}", e.replace('\n', " "));
        }
    }
    out
}

fn ratio(gregor: &[f64], kafka: &[f64]) -> Option<f64> {
    let (g, k) = (median(gregor)?, median(kafka)?);
    (k != 0.0).then(|| g / k)
}

/// The same figures as JSON, with every sample.
pub fn json(info: &RunInfo, metrics: &[Metric], samples: &Samples) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = metrics
        .iter()
        .map(|m| {
            let g = samples.of(&m.key, Kind::Gregor);
            let k = samples.of(&m.key, Kind::Kafka);
            let f = samples.of(&m.key, Kind::Kfake);
            let ratio = ratio(g, k);
            serde_json::json!({
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "better": if m.better == Better::Higher { "higher" } else { "lower" },
                "gregor": {"median": median(g), "samples": g},
                "kafka": {"median": median(k), "samples": k},
                "kfake": {"median": median(f), "samples": f},
                "ratio": ratio,
                "target": m.target.describe(m.unit),
                "met": m.target.met(median(g), ratio),
            })
        })
        .collect();
    serde_json::json!({ "run": info, "metrics": rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn targets_judge_ratio_and_absolute_value() {
        let p99 = Target::RatioAtMostAndBelow(0.2, 1.0);
        assert_eq!(p99.met(Some(0.5), Some(0.1)), Some(true));
        assert_eq!(p99.met(Some(1.5), Some(0.1)), Some(false));
        assert_eq!(p99.met(Some(0.5), None), None);
        assert_eq!(p99.met(Some(1.5), None), Some(false));
        assert_eq!(Target::RatioAtLeast(2.0).met(Some(1.0), None), None);
        assert_eq!(Target::Below(20.0).met(Some(3.0), None), Some(true));
    }
}
