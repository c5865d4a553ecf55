//! Bad input on raw sockets: garbage, a truncated frame, oversized and negative lengths, an
//! unknown API key. Each such connection is closed, the broker keeps serving others, and nothing
//! is logged above WARN for it.

use std::time::Duration;

use gregor_itests::raw::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn assert_serves(broker: &TestBroker) -> anyhow::Result<()> {
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let response: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(response.error_code, 0);
    assert!(response
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Fetch as i16));
    Ok(())
}

#[test]
fn bad_frames_close_only_their_connection() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let addr = broker.bootstrap();
    // A well-behaved client stays connected across everything below.
    let mut steady = RawClient::connect(&addr)?;

    let mut cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            false,
        ),
        (
            "oversized length",
            0x7fff_ffffi32.to_be_bytes().to_vec(),
            false,
        ),
        ("negative length", (-5i32).to_be_bytes().to_vec(), false),
        (
            "length without a header",
            [0, 0, 0, 2, 0, 1].to_vec(),
            false,
        ),
        ("zero length", 0i32.to_be_bytes().to_vec(), false),
    ];
    // A well-formed header naming API key 9999.
    let mut probe = RawClient::connect(&addr)?;
    let mut unknown = probe.frame(ApiKey::Metadata, 12, &MetadataRequest::default())?;
    unknown[4..6].copy_from_slice(&9999i16.to_be_bytes());
    cases.push(("unknown API key", unknown, false));
    // A known API at a version no broker supports (only ApiVersions gets a fallback answer).
    let mut future = probe.frame(ApiKey::Metadata, 12, &MetadataRequest::default())?;
    future[6..8].copy_from_slice(&99i16.to_be_bytes());
    cases.push(("unsupported Metadata version", future, false));
    // Half a frame, then the client closes its side.
    let whole = probe.frame(ApiKey::Metadata, 12, &MetadataRequest::default())?;
    cases.push(("truncated frame", whole[..whole.len() / 2].to_vec(), true));

    for (name, bytes, then_close_write) in cases {
        let mut client = RawClient::connect(&addr)?;
        client.send_bytes(&bytes)?;
        if then_close_write {
            client.shutdown_write()?;
        }
        assert!(
            client.is_closed_by_peer(),
            "{name}: the broker keeps the connection open"
        );
        assert_serves(&broker)?;
    }
    let _: ApiVersionsResponse =
        steady.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;

    // An ApiVersions newer than the broker knows gets a v0 answer with UNSUPPORTED_VERSION.
    let mut client = RawClient::connect(&addr)?;
    let mut frame = client.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    client.send_bytes(&frame)?;
    let response: ApiVersionsResponse = client.read_response(ApiKey::ApiVersions, 0)?;
    assert_eq!(response.error_code, 35);
    assert!(!response.api_keys.is_empty());

    // A real client, on new connections, after all of the above.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    assert_eq!(metadata.brokers().len(), 1);

    let log = broker.log();
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "errors logged for client mistakes:\n{log}"
    );
    Ok(())
}

#[test]
fn frames_over_the_configured_limit_close_the_connection() -> anyhow::Result<()> {
    let broker = TestBroker::start(&["--max-request-bytes", "4096"])?;
    let addr = broker.bootstrap();
    let mut client = RawClient::connect(&addr)?;
    // Only the size is sent: the broker must refuse before waiting for (or allocating) the rest.
    client.send_bytes(&5_000i32.to_be_bytes())?;
    assert!(
        client.is_closed_by_peer(),
        "a 5,000-byte frame with a 4,096-byte limit"
    );
    assert_serves(&broker)?;
    let log = broker.log();
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "errors logged for client mistakes:\n{log}"
    );
    Ok(())
}
