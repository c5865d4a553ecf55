//! kcat (librdkafka 2.0 from Debian): `-L` lists the broker and topics, `-P` then `-C -e`
//! round-trips records, uncompressed and with each codec (librdkafka 2.0 enables gzip and snappy
//! only if the broker advertises Produce from version 0, and zstd only from 7).

use gregor_itests::clients::create_topic;
use gregor_itests::kcat::{kcat, kcat_available};
use gregor_itests::TestBroker;

fn consume_all(bootstrap: &str, topic: &str) -> anyhow::Result<String> {
    gregor_itests::kcat::consume(bootstrap, topic, "%k=%s@%o\n")
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
