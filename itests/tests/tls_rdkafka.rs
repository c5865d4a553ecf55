//! rdkafka (librdkafka 2.12 with OpenSSL) over an SSL listener: server authentication with the
//! test CA, then mutual TLS with `ssl.client.auth=required`, where a client without a
//! certificate is refused and one with a certificate is served as its subject's principal.
//! A PLAINTEXT listener beside it keeps answering with its own address.

use std::time::Duration;

use gregor_itests::clients::{
    assert_records_match, consume_all_with, make_records, produce_all, producer,
};
use gregor_itests::security::{listener_port, openssl_available, Certs, CLIENT_PRINCIPAL};
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn metadata_port(settings: &[(&str, &str)]) -> anyhow::Result<i32> {
    let mut config = ClientConfig::new();
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(metadata.brokers()[0].port())
}

#[test]
fn rdkafka_produces_and_consumes_over_tls_with_and_without_client_certificates(
) -> anyhow::Result<()> {
    if !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,MTLS://127.0.0.1:0".to_string(),
        "--set".to_string(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL".to_string(),
        "--set".to_string(),
        "listener.name.mtls.ssl.client.auth=required".to_string(),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker =
        TestBroker::start_with_env(&args, &[("RUST_LOG", "info,gregor::connection=debug")])?;
    let ssl = format!("127.0.0.1:{}", listener_port(&broker, "SSL")?);
    let mtls = format!("127.0.0.1:{}", listener_port(&broker, "MTLS")?);
    let ca = certs.ca();
    let server_auth = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];

    // Server authentication only.
    let records = make_records(50, 1, 16);
    let mut settings = server_auth.to_vec();
    settings.push(("bootstrap.servers", ssl.as_str()));
    let (p, _) = producer(&ssl, &server_auth)?;
    produce_all(&p, "tls-orders", &records)?;
    let got = consume_all_with(
        &ssl,
        "tls-orders",
        1,
        50,
        Duration::from_secs(30),
        &server_auth,
    )?;
    assert_records_match(&records, &got, 1);
    // Each listener answers Metadata with its own port.
    assert_eq!(
        metadata_port(&settings)?,
        i32::from(listener_port(&broker, "SSL")?)
    );
    assert_eq!(
        metadata_port(&[("bootstrap.servers", broker.bootstrap().as_str())])?,
        i32::from(broker.port())
    );

    // Mutual TLS: without a certificate the handshake fails and nothing is served.
    let mut no_cert = server_auth.to_vec();
    no_cert.push(("bootstrap.servers", mtls.as_str()));
    no_cert.push(("socket.timeout.ms", "3000"));
    let mut config = ClientConfig::new();
    for (k, v) in &no_cert {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create()?;
    assert!(consumer
        .fetch_metadata(None, Duration::from_secs(3))
        .is_err());

    let cert = certs.file("client.crt");
    let key = certs.file("client.key");
    let mut mutual = server_auth.to_vec();
    mutual.push(("ssl.certificate.location", cert.as_str()));
    mutual.push(("ssl.key.location", key.as_str()));
    let (p, _) = producer(&mtls, &mutual)?;
    produce_all(&p, "tls-orders", &records)?;
    let got = consume_all_with(
        &mtls,
        "tls-orders",
        1,
        100,
        Duration::from_secs(30),
        &mutual,
    )?;
    assert_eq!(got[&0].len(), 100);
    let log = broker.log();
    assert!(
        log.contains(&format!("principal={CLIENT_PRINCIPAL}")),
        "the client certificate's subject is the principal:\n{log}"
    );
    Ok(())
}
