//! The live view's HTTP listener (issue 19): the page and its assets, the JSON API, the live
//! event stream and `/metrics` answer from the broker's state; a malformed, oversized or
//! non-GET request gets a 4xx and the Kafka listener goes on serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use gregor_itests::group::produce_values;
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;

/// Sends `request` as it is and returns the whole answer (the server closes: `Connection:
/// close`, or an error answer).
fn exchange(address: &str, request: &[u8]) -> anyhow::Result<String> {
    let mut socket = TcpStream::connect(address)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    socket.write_all(request)?;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn get(address: &str, path: &str) -> anyhow::Result<(String, String)> {
    let answer = exchange(
        address,
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("not an HTTP answer: {answer:?}"))?;
    Ok((head.to_string(), body.to_string()))
}

/// Checks the text exposition format as Prometheus parses it: every sample belongs to a family
/// announced by `# TYPE`, and its value is a number.
fn check_exposition(text: &str) -> anyhow::Result<()> {
    let mut families = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap_or_default();
            let kind = parts.next().unwrap_or_default();
            anyhow::ensure!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "bad type: {line}"
            );
            anyhow::ensure!(families.insert(name.to_string()), "family twice: {line}");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| anyhow::anyhow!("no value: {line}"))?;
        anyhow::ensure!(value.parse::<f64>().is_ok(), "bad value: {line}");
        let name = series.split('{').next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(*f)))
            .unwrap_or(name);
        anyhow::ensure!(families.contains(family), "sample before its TYPE: {line}");
    }
    Ok(())
}

#[test]
fn the_live_view_answers_from_the_brokers_state() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let http = broker.http_address()?;
    let mut raw = RawClient::connect(&broker.bootstrap())?;
    let (code, message) = raw.create_topic("orders", 3, &[])?;
    anyhow::ensure!(code == 0, "CreateTopics: {code} {message}");
    produce_values(&broker.bootstrap(), "orders", 3, "order", 30)?;

    let (head, page) = get(&http, "/")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(page.contains("<script src=\"/app.js\">"), "{page}");
    for asset in ["/app.js", "/style.css"] {
        let (head, _) = get(&http, asset)?;
        assert!(head.starts_with("HTTP/1.1 200"), "{asset}: {head}");
    }

    let (head, body) = get(&http, "/api/topics")?;
    assert!(head.contains("application/json"), "{head}");
    let topics: serde_json::Value = serde_json::from_str(&body)?;
    let orders = topics
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "orders"))
        .ok_or_else(|| anyhow::anyhow!("no orders in {body}"))?;
    let ends: Vec<i64> = orders["partitions"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["end_offset"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(ends, [10, 10, 10], "{orders}");

    // The event stream's first snapshot arrives at once.
    let mut stream = TcpStream::connect(&http)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET /api/events HTTP/1.1\r\nHost: {http}\r\n\r\n").as_bytes())?;
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    // Until the first event is complete: its data line ends with a blank line.
    let complete = |s: &str| {
        s.split_once("event: snapshot\ndata: ")
            .is_some_and(|(_, data)| data.contains("\n\n"))
    };
    while !complete(&seen) {
        let n = stream.read(&mut buf)?;
        anyhow::ensure!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("\"name\":\"orders\""), "{seen}");
    drop(stream);

    let (head, metrics) = get(&http, "/metrics")?;
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    check_exposition(&metrics)?;
    for line in [
        "kafka_topic_partition_current_offset{topic=\"orders\",partition=\"2\"} 10",
        "kafka_topic_partitions{topic=\"orders\"} 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kafka_network_requests_total{request=\"Produce\"} ")),
        "{metrics}"
    );

    // Bad requests get a 4xx; none disturbs the broker.
    let garbage = exchange(&http, b"HELLO THERE\r\n\r\n")?;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = exchange(&http, huge.as_bytes())?;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    let post = exchange(
        &http,
        format!("POST /api/topics HTTP/1.1\r\nHost: {http}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let (missing, _) = get(&http, "/no/such/page")?;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    raw.wait_for_topic("orders")?;
    Ok(())
}
