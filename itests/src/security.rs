//! Test support for the TLS and SASL listeners: certificates made by the openssl CLI for each
//! test (a CA, a broker certificate for localhost and 127.0.0.1, a client certificate), the
//! flags of a broker with several listeners, their bound ports from the banner, and SCRAM
//! users created through AlterUserScramCredentials as `kafka-configs` creates them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::raw::RawClient;
use crate::TestBroker;

/// The subject of the client certificate, and the principal Kafka's default mapping gives it.
pub const CLIENT_SUBJECT: &str = "/C=DE/O=Example/OU=eng/CN=client";
/// `User:` and the subject in RFC 2253 order, as Kafka prints it.
pub const CLIENT_PRINCIPAL: &str = "User:CN=client,OU=eng,O=Example,C=DE";

/// Certificates for one test, in a temporary folder.
pub struct Certs {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .context("running the openssl CLI (apt-get install openssl)")?;
    if !out.status.success() {
        bail!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Certs {
    /// A CA, a broker certificate signed by it (SAN localhost and 127.0.0.1) and a client
    /// certificate signed by it; all X.509 v3, keys unencrypted, valid for a day.
    pub fn generate() -> anyhow::Result<Certs> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::write(
            d.join("broker.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )?;
        std::fs::write(
            d.join("client.ext"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        )?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-days",
            "1",
            "-subj",
            "/CN=Gregor Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(d, &ca)?;
        for (name, subject) in [("broker", "/CN=localhost"), ("client", CLIENT_SUBJECT)] {
            let mut req = vec!["req"];
            req.extend(ec);
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let crt = format!("{name}.crt");
            let ext = format!("{name}.ext");
            req.extend(["-subj", subject, "-keyout", &key, "-out", &csr]);
            openssl(d, &req)?;
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "1",
                    "-extfile",
                    &ext,
                    "-out",
                    &crt,
                ],
            )?;
        }
        let pem = format!(
            "{}{}",
            std::fs::read_to_string(d.join("broker.crt"))?,
            std::fs::read_to_string(d.join("broker.key"))?
        );
        std::fs::write(d.join("broker.pem"), pem)?;
        Ok(Certs { dir })
    }

    /// A file of the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `path` as a string, for flags and client settings.
    pub fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// The CA certificate, for clients' `ssl.ca.location` and the broker's truststore.
    pub fn ca(&self) -> String {
        self.file("ca.crt")
    }

    /// The broker's keystore settings: one PEM file with chain and key.
    pub fn keystore_args(&self) -> Vec<String> {
        vec![
            "--set".into(),
            format!("ssl.keystore.location={}", self.file("broker.pem")),
            "--set".into(),
            format!("ssl.truststore.location={}", self.ca()),
        ]
    }
}

/// Whether the openssl CLI runs here; the README's test set-up installs it.
pub fn openssl_available() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok();
    if !ok {
        eprintln!("skipping: no openssl CLI to make test certificates");
    }
    ok
}

/// The bound port of listener `name`, from the banner's `listener NAME (...) on ADDR` line.
pub fn listener_port(broker: &TestBroker, name: &str) -> anyhow::Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let marker = format!("listener {name} (");
    loop {
        let log = broker.log();
        if let Some(line) = log.lines().find(|l| l.trim_start().starts_with(&marker)) {
            let addr = line
                .split(" on ")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .context("listener line without an address")?;
            return Ok(addr.rsplit(':').next().unwrap_or_default().parse()?);
        }
        if Instant::now() > deadline {
            bail!("no {marker} line in the banner:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates or replaces a SCRAM user as `kafka-configs --alter --add-config
/// 'SCRAM-SHA-512=[password=...]'` does: the client salts and hashes, the broker keeps the
/// derived keys. `mechanism` is 1 (SCRAM-SHA-256) or 2 (SCRAM-SHA-512); `addr` a listener
/// that needs no authentication.
pub fn add_scram_user(addr: &str, user: &str, password: &str, mechanism: i8) -> anyhow::Result<()> {
    use gregor_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
    use gregor_protocol::messages::{
        AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    };
    use gregor_protocol::StrBytes;
    let iterations = 4096u32;
    let salt = format!("salt-of-{user}").into_bytes();
    let (algorithm, len) = match mechanism {
        1 => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
        _ => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
    };
    let mut salted = vec![0u8; len];
    ring::pbkdf2::derive(
        algorithm,
        std::num::NonZeroU32::new(iterations).expect("non-zero"),
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(user.to_string()))
            .with_mechanism(mechanism)
            .with_iterations(iterations as i32)
            .with_salt(salt.into())
            .with_salted_password(salted.into()),
    ]);
    let mut client = RawClient::connect(addr)?;
    let response: AlterUserScramCredentialsResponse =
        client.call(ApiKey::AlterUserScramCredentials, 0, &request)?;
    for r in &response.results {
        if r.error_code != 0 {
            bail!(
                "creating SCRAM user {user}: error {} {:?}",
                r.error_code,
                r.error_message
            );
        }
    }
    Ok(())
}
