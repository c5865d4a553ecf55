//! The security rows (`--only security`): produce and consume over an SSL listener (server
//! authentication) and over a SASL_SSL listener with SCRAM-SHA-256, the same rdkafka load as
//! the PLAINTEXT rows. Each round starts a broker of its own with both listeners beside
//! PLAINTEXT, so the other scenarios keep running on the defaults. Certificates are made once
//! per run by the openssl CLI, as the itests make them (`crate::security::Certs`); the SCRAM
//! user is created through AlterUserScramCredentials on PLAINTEXT, on both brokers alike.
//! Kafka's counterpart: the same listeners in `server.properties`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::brokers::{Kind, Launcher};
use super::load::{self, ProduceSpec};
use super::raw_load::{self, RawProduceSpec};
use super::report::{Better, Metric, Samples, Target};
use crate::secure_raw::{connect_tls, scram_sha256_login};
use crate::security::{add_scram_user, Certs};

/// The listeners measured, each named after its security protocol.
const LISTENERS: [&str; 2] = ["SSL", "SASL_SSL"];

/// The SCRAM user the SASL_SSL rows authenticate as.
const USER: &str = "bench";
/// Its password.
const PASSWORD: &str = "bench-secret";
/// Password of the PKCS12 keystore Kafka reads (made from the same key and certificate).
const STORE_PASSWORD: &str = "bench-store";

/// Record size and partitions of the produce rows; records per run are the caller's.
const PRODUCE: [(usize, i32); 2] = [(1024, 1), (100, 1)];

/// The certificates of a run: the itests' CA and broker certificate, and a PKCS12 copy of the
/// broker's for Kafka, whose PEM keystores want an encrypted key.
pub struct Material {
    certs: Certs,
}

impl Material {
    /// Makes the CA, the broker certificate (SAN 127.0.0.1) and the PKCS12 keystore.
    pub fn generate() -> anyhow::Result<Material> {
        let certs = Certs::generate().context("making test certificates (openssl CLI)")?;
        let out = std::process::Command::new("openssl")
            .args(["pkcs12", "-export", "-name", "broker", "-in"])
            .arg(certs.path("broker.crt"))
            .arg("-inkey")
            .arg(certs.path("broker.key"))
            .arg("-out")
            .arg(certs.path("broker.p12"))
            .arg("-passout")
            .arg(format!("pass:{STORE_PASSWORD}"))
            .output()
            .context("running openssl pkcs12")?;
        if !out.status.success() {
            bail!(
                "openssl pkcs12 -export: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Material { certs })
    }

    /// The broker settings for both listeners, in Kafka's keys.
    fn broker_settings(&self, kind: Kind) -> Vec<(&'static str, String)> {
        let mut s = match kind {
            Kind::Kafka => vec![
                ("ssl.keystore.type", "PKCS12".to_string()),
                ("ssl.keystore.location", self.certs.file("broker.p12")),
                ("ssl.keystore.password", STORE_PASSWORD.to_string()),
                ("ssl.key.password", STORE_PASSWORD.to_string()),
            ],
            _ => vec![("ssl.keystore.location", self.certs.file("broker.pem"))],
        };
        s.push(("sasl.enabled.mechanisms", "SCRAM-SHA-256".to_string()));
        s.push((
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
        ));
        s
    }

    /// The client settings of `listener`.
    fn client_settings(&self, listener: &str) -> Vec<(&'static str, String)> {
        let mut s = vec![
            ("security.protocol", listener.to_ascii_lowercase()),
            ("ssl.ca.location", self.certs.ca()),
        ];
        if listener == "SASL_SSL" {
            s.extend([
                ("sasl.mechanism", "SCRAM-SHA-256".to_string()),
                ("sasl.username", USER.to_string()),
                ("sasl.password", PASSWORD.to_string()),
            ]);
        }
        s
    }
}

fn produce_key(listener: &str, record_bytes: usize, partitions: i32) -> String {
    format!(
        "{}_produce_{record_bytes}b_acks1_p{partitions}",
        listener.to_ascii_lowercase()
    )
}

fn raw_produce_key(listener: &str, record_bytes: usize, partitions: i32) -> String {
    format!(
        "{}_raw_produce_{record_bytes}b_acks1_p{partitions}",
        listener.to_ascii_lowercase()
    )
}

fn consume_key(listener: &str) -> String {
    format!("{}_consume_1kib_p1", listener.to_ascii_lowercase())
}

fn raw_consume_key(listener: &str) -> String {
    format!("{}_raw_consume_1kib_p1", listener.to_ascii_lowercase())
}

fn cpu_produced_key(listener: &str) -> String {
    format!("{}_cpu_per_gib_produced", listener.to_ascii_lowercase())
}

fn label(listener: &str) -> &'static str {
    match listener {
        "SSL" => "SSL",
        _ => "SASL_SSL (SCRAM-SHA-256)",
    }
}

/// The rows, in table order.
pub fn metrics(consume_bytes: u64) -> Vec<Metric> {
    let mut m = Vec::new();
    for listener in LISTENERS {
        for (record_bytes, partitions) in PRODUCE {
            m.push(Metric {
                key: produce_key(listener, record_bytes, partitions),
                label: format!(
                    "{}: produce {}, acks=1, {partitions} partition",
                    label(listener),
                    super::size_label(record_bytes)
                ),
                unit: "MiB/s",
                better: Better::Higher,
                target: Target::RatioAtLeast(2.0),
            });
        }
        for (record_bytes, partitions) in PRODUCE {
            m.push(Metric {
                key: raw_produce_key(listener, record_bytes, partitions),
                label: format!(
                    "{}: raw produce {}, acks=1, {partitions} partition (pre-encoded batches)",
                    label(listener),
                    super::size_label(record_bytes)
                ),
                unit: "MiB/s",
                better: Better::Higher,
                target: Target::RatioAtLeast(2.0),
            });
        }
        m.push(Metric {
            key: consume_key(listener),
            label: format!(
                "{}: consume {} MiB of 1 KiB records from the start, 1 partition",
                label(listener),
                consume_bytes >> 20
            ),
            unit: "MiB/s",
            better: Better::Higher,
            target: Target::RatioAtLeast(2.0),
        });
        m.push(Metric {
            key: raw_consume_key(listener),
            label: format!(
                "{}: raw consume of the same, header-only Fetch",
                label(listener)
            ),
            unit: "MiB/s",
            better: Better::Higher,
            target: Target::RatioAtLeast(2.0),
        });
        m.push(Metric {
            key: cpu_produced_key(listener),
            label: format!(
                "{}: broker CPU per GiB produced (1 KiB, acks=1)",
                label(listener)
            ),
            unit: "s/GiB",
            better: Better::Lower,
            target: Target::RatioAtMost(0.5),
        });
        m.push(Metric {
            key: format!("{}_cpu_per_gib_consumed", listener.to_ascii_lowercase()),
            label: format!("{}: broker CPU per GiB consumed", label(listener)),
            unit: "s/GiB",
            better: Better::Lower,
            target: Target::RatioAtMost(0.5),
        });
    }
    m
}

/// What the workload paragraph says of these rows.
pub fn workload_text(produce_records: u64, consume_bytes: u64) -> String {
    format!(
        "Security rows: a broker of their own per round with SSL and SASL_SSL listeners beside \
         PLAINTEXT (an ECDSA P-256 certificate from a test CA made by the openssl CLI; Gregor \
         reads it as PEM, Kafka as PKCS12; TLS as the client and broker negotiate, TLS 1.3), \
         SCRAM-SHA-256 (4096 iterations) on SASL_SSL with a user created through \
         AlterUserScramCredentials; over each, produce runs of {produce_records} records of \
         1 KiB and of 100 B (acks=1, otherwise as the PLAINTEXT rows) and a consume of {} MiB \
         of 1 KiB records written over the same listener and synced to disk first. The raw produce rows send \
         {produce_records} KiB of pre-encoded 64 KiB batches over one TLS connection of the \
         harness's own (rustls; SASL_SSL logs in with SCRAM-SHA-256 first), {} requests in \
         flight, as the PLAINTEXT raw rows do, so the TLS client is not the limit; the raw \
         consume rows read the consumed records again over such a connection with the raw \
         fetcher (header-only, one Fetch in flight).",
        consume_bytes >> 20,
        super::raw_load::MAX_IN_FLIGHT
    )
}

/// One broker, started with both listeners, through the security rows, then stopped.
pub fn round(
    launcher: &Launcher,
    material: &Material,
    produce_records: u64,
    consume_bytes: u64,
    samples: &mut Samples,
    pids: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let kind = launcher.kind();
    let settings = material.broker_settings(kind);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let broker = launcher.start_with_listeners(&settings, &LISTENERS)?;
    let pid = broker.pid();
    pids.push(pid);
    let result = (|| -> anyhow::Result<()> {
        add_scram_user(&broker.bootstrap, USER, PASSWORD, 1).context("creating the SCRAM user")?;
        for listener in LISTENERS {
            let addr = broker.listener(listener)?;
            let client = material.client_settings(listener);
            let client: Vec<(&str, &str)> = client.iter().map(|(k, v)| (*k, v.as_str())).collect();
            wait_until_served(addr, &client).with_context(|| format!("{listener} listener"))?;
            for (record_bytes, partitions) in PRODUCE {
                let key = produce_key(listener, record_bytes, partitions);
                let topic = key.replace('_', "-");
                load::create_topic(&broker.bootstrap, &topic, partitions)?;
                let (cpu0, own0) = (super::procfs::cpu_seconds(pid)?, super::own_cpu()?);
                let records = if record_bytes == 1024 {
                    produce_records
                } else {
                    produce_records * 4
                };
                let spec = ProduceSpec {
                    record_bytes,
                    records,
                    acks: "1",
                    partitions,
                    keys: None,
                };
                let t =
                    load::produce_with(addr, &topic, spec, &client).with_context(|| key.clone())?;
                let cpu = super::procfs::cpu_seconds(pid)? - cpu0;
                // On a small machine the one TLS client can be the limit, not the broker.
                eprintln!(
                    "bench:   {key}: {:.1} MiB/s in {:.2} s; CPU s: broker {cpu:.2}, load \
                     generator {:.2}",
                    t.mib_per_s(),
                    t.elapsed.as_secs_f64(),
                    super::own_cpu()? - own0,
                );
                samples.add(&key, kind, t.mib_per_s());
                if record_bytes == 1024 {
                    let gib = t.bytes as f64 / super::GIB;
                    samples.add(&cpu_produced_key(listener), kind, cpu / gib);
                }
            }
            for (record_bytes, partitions) in PRODUCE {
                let key = raw_produce_key(listener, record_bytes, partitions);
                let topic = key.replace('_', "-");
                load::create_topic(&broker.bootstrap, &topic, partitions)?;
                let mut stream = connect_tls(addr, &material.certs.path("ca.crt"))?;
                if listener == "SASL_SSL" {
                    scram_sha256_login(&mut stream, USER, PASSWORD)?;
                }
                let spec = RawProduceSpec {
                    record_bytes,
                    bytes: produce_records * 1024,
                    acks: 1,
                    partitions,
                };
                let (cpu0, own0) = (super::procfs::cpu_seconds(pid)?, super::own_cpu()?);
                let t = raw_load::produce_on(Box::new(stream), &topic, spec)
                    .with_context(|| key.clone())?
                    .throughput;
                eprintln!(
                    "bench:   {key}: {:.1} MiB/s in {:.2} s; CPU s: broker {:.2}, load \
                     generator {:.2}",
                    t.mib_per_s(),
                    t.elapsed.as_secs_f64(),
                    super::procfs::cpu_seconds(pid)? - cpu0,
                    super::own_cpu()? - own0,
                );
                samples.add(&key, kind, t.mib_per_s());
            }
            let topic = format!("{}-consume", listener.to_ascii_lowercase());
            load::create_topic(&broker.bootstrap, &topic, 1)?;
            let fill = ProduceSpec {
                record_bytes: 1024,
                records: consume_bytes / 1024,
                acks: "1",
                partitions: 1,
                keys: None,
            };
            let written = load::produce_with(addr, &topic, fill, &client)
                .with_context(|| format!("filling {topic}"))?;
            super::settle_writeback();
            let (cpu0, own0) = (super::procfs::cpu_seconds(pid)?, super::own_cpu()?);
            let read = load::consume_with(addr, &topic, 1, written.records, &client)
                .with_context(|| format!("consuming {topic}"))?;
            let cpu = super::procfs::cpu_seconds(pid)? - cpu0;
            eprintln!(
                "bench:   {}: {:.1} MiB/s; CPU s: broker {cpu:.2}, load generator {:.2}",
                consume_key(listener),
                read.mib_per_s(),
                super::own_cpu()? - own0,
            );
            samples.add(&consume_key(listener), kind, read.mib_per_s());
            samples.add(
                &format!("{}_cpu_per_gib_consumed", listener.to_ascii_lowercase()),
                kind,
                cpu / (read.bytes as f64 / super::GIB),
            );
            // The same records again through the harness's own TLS fetcher, which only reads
            // batch headers, so the broker rather than librdkafka's decoding is the limit.
            let mut stream = connect_tls(addr, &material.certs.path("ca.crt"))?;
            if listener == "SASL_SSL" {
                scram_sha256_login(&mut stream, USER, PASSWORD)?;
            }
            let ends = [written.records as i64];
            let (cpu0, own0) = (super::procfs::cpu_seconds(pid)?, super::own_cpu()?);
            let (t, fetches) = raw_load::consume_on(Box::new(stream), &topic, &ends, 1024)
                .with_context(|| raw_consume_key(listener))?;
            eprintln!(
                "bench:   {}: {:.1} MiB/s, {fetches} fetches; CPU s: broker {:.2}, load \
                 generator {:.2}",
                raw_consume_key(listener),
                t.mib_per_s(),
                super::procfs::cpu_seconds(pid)? - cpu0,
                super::own_cpu()? - own0,
            );
            samples.add(&raw_consume_key(listener), kind, t.mib_per_s());
        }
        Ok(())
    })();
    let stopped = broker.stop();
    result?;
    stopped
}

/// Waits until a client with `client` settings gets Metadata from `addr`: Kafka applies a new
/// SCRAM credential from its metadata log, a moment after AlterUserScramCredentials answers.
fn wait_until_served(addr: &str, client: &[(&str, &str)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", addr);
        for (k, v) in client {
            config.set(*k, *v);
        }
        let consumer: BaseConsumer = config.create()?;
        match consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => bail!("no Metadata within 30 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
