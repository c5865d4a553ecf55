//! Requests of an API Gregor does not serve (AlterClientQuotas, UpdateFeatures), of a version
//! past what it serves (DescribeProducers v1), or of an unknown API key: the connection closes,
//! as Kafka 4.4 closes it for the last two (checked with `GREGOR_VS_KAFKA=1`), and Gregor logs
//! at DEBUG which key and version the client asked for and what it serves (issue 18).

use gregor_itests::raw::messages::{
    AlterClientQuotasRequest, ApiKey, DescribeProducersRequest, MetadataRequest,
    UpdateFeaturesRequest,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_itests::TestBroker;

/// Sends `frame` on a new connection and says whether the broker closed it unanswered.
fn closes(bootstrap: &str, frame: &[u8]) -> anyhow::Result<bool> {
    let mut client = RawClient::connect(bootstrap)?;
    client.set_read_timeout(std::time::Duration::from_secs(5))?;
    client.send_bytes(frame)?;
    Ok(client.is_closed_by_peer())
}

fn with_version(mut frame: Vec<u8>, version: i16) -> Vec<u8> {
    frame[6..8].copy_from_slice(&version.to_be_bytes());
    frame
}

#[test]
fn a_version_past_kafkas_or_an_unknown_key_closes_the_connection() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut c = RawClient::connect(&broker.bootstrap)?;
        // DescribeProducers has only v0 in Kafka 4.4.
        let too_new = with_version(
            c.frame(
                ApiKey::DescribeProducers,
                0,
                &DescribeProducersRequest::default(),
            )?,
            1,
        );
        assert!(closes(&broker.bootstrap, &too_new)?, "DescribeProducers v1");
        let mut unknown = c.frame(ApiKey::Metadata, 12, &MetadataRequest::default())?;
        unknown[4..6].copy_from_slice(&9999i16.to_be_bytes());
        assert!(closes(&broker.bootstrap, &unknown)?, "API key 9999");
        Ok(())
    })
}

#[test]
fn an_unserved_request_is_logged_with_its_key_and_version() -> anyhow::Result<()> {
    let broker = TestBroker::start_with_env(&[], &[("RUST_LOG", "gregor=debug")])?;
    let b = broker.bootstrap();
    let mut c = RawClient::connect(&b)?;
    let quotas = c.frame(
        ApiKey::AlterClientQuotas,
        1,
        &AlterClientQuotasRequest::default(),
    )?;
    assert!(closes(&b, &quotas)?, "AlterClientQuotas");
    let features = c.frame(ApiKey::UpdateFeatures, 1, &UpdateFeaturesRequest::default())?;
    assert!(closes(&b, &features)?, "UpdateFeatures");
    let too_new = with_version(
        c.frame(
            ApiKey::DescribeProducers,
            0,
            &DescribeProducersRequest::default(),
        )?,
        1,
    );
    assert!(closes(&b, &too_new)?, "DescribeProducers v1");
    // The broker still serves the connection that behaved.
    let _: gregor_itests::raw::messages::MetadataResponse =
        c.call(ApiKey::Metadata, 12, &MetadataRequest::default())?;
    let log = broker.log();
    let logged = |needle: &str| {
        log.lines()
            .any(|l| l.contains("not served; closing the connection") && l.contains(needle))
    };
    assert!(
        logged("api_key=49 api=Some(AlterClientQuotas) api_version=1 served=None"),
        "{log}"
    );
    assert!(
        logged("api_key=57 api=Some(UpdateFeatures) api_version=1 served=None"),
        "{log}"
    );
    assert!(
        logged("api_key=61 api=Some(DescribeProducers) api_version=1 served=Some((0, 0))"),
        "{log}"
    );
    Ok(())
}
