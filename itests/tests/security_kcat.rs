//! kcat (Debian's, librdkafka 2.0 with OpenSSL) over SSL and SASL_SSL: list, produce and
//! consume with the test CA, SCRAM-SHA-256 over TLS, and an OAUTHBEARER unsecured JWT.

use gregor_itests::kcat::{kcat, kcat_available};
use gregor_itests::security::{add_scram_user, listener_port, openssl_available, Certs};
use gregor_itests::TestBroker;

#[test]
fn kcat_over_ssl_and_sasl_ssl() -> anyhow::Result<()> {
    if !kcat_available() || !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0".to_string(),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = TestBroker::start(&args)?;
    let ssl_port = listener_port(&broker, "SSL")?;
    let ssl = format!("127.0.0.1:{ssl_port}");
    let ca = certs.ca();
    let tls = ["-X", "security.protocol=SSL", "-X"];
    let ca_setting = format!("ssl.ca.location={ca}");
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = tls.iter().map(|s| s.to_string()).collect();
        v.push(ca_setting.clone());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>, input: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kcat(&args, input)
    };
    run(
        with(&["-b", &ssl, "-P", "-t", "kcat-tls", "-K", ":"]),
        "k1:one\nk2:two\n",
    )?;
    let listing = run(with(&["-b", &ssl, "-L"]), "")?;
    assert!(
        listing.contains(&format!("broker 1 at 127.0.0.1:{ssl_port}")),
        "{listing}"
    );
    let consumed = run(
        with(&[
            "-b",
            &ssl,
            "-C",
            "-t",
            "kcat-tls",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s\n",
        ]),
        "",
    )?;
    assert_eq!(consumed, "k1=one\nk2=two\n");

    let sasl_ssl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_SSL")?);
    add_scram_user(&broker.bootstrap(), "kc", "kc-secret", 1)?;
    let scram = [
        "-X",
        "security.protocol=SASL_SSL",
        "-X",
        &ca_setting,
        "-X",
        "sasl.mechanisms=SCRAM-SHA-256",
        "-X",
        "sasl.username=kc",
        "-X",
        "sasl.password=kc-secret",
        "-b",
        &sasl_ssl,
    ];
    let consumed = kcat(
        &[
            &scram[..],
            &[
                "-C",
                "-t",
                "kcat-tls",
                "-o",
                "beginning",
                "-e",
                "-f",
                "%s\n",
            ],
        ]
        .concat(),
        "",
    )?;
    assert_eq!(consumed, "one\ntwo\n");
    let oauth = [
        "-X",
        "security.protocol=SASL_SSL",
        "-X",
        &ca_setting,
        "-X",
        "sasl.mechanisms=OAUTHBEARER",
        "-X",
        "enable.sasl.oauthbearer.unsecure.jwt=true",
        "-X",
        "sasl.oauthbearer.config=principal=kc",
        "-b",
        &sasl_ssl,
        "-L",
    ];
    assert!(kcat(&oauth, "")?.contains("kcat-tls"));
    Ok(())
}
