//! TLS for SSL and SASL_SSL listeners: the rustls server config built from a listener's PEM
//! keystore and truststore, checked at start-up, and the principal of a client certificate.
//! Kafka counterpart: `DefaultSslEngineFactory` (PEM keystores) and the SSL branch of
//! `DefaultKafkaPrincipalBuilder`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::principal::KafkaPrincipal;
use crate::config::{ClientAuth, SslSettings};

/// Why a listener's TLS cannot be set up; each message names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("listener {listener}: cannot read {key} {path}: {cause}")]
    Unreadable {
        listener: String,
        key: &'static str,
        path: String,
        cause: std::io::Error,
    },
    #[error("listener {listener}: {what}")]
    Invalid { listener: String, what: String },
}

/// The rustls server config of a TLS listener, or a message that says what to fix: a missing
/// or unreadable file, no certificate or key in it, an encrypted key, a certificate that does
/// not belong to the key.
pub fn server_config(listener: &str, ssl: &SslSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let invalid = |what: String| TlsError::Invalid {
        listener: listener.to_string(),
        what,
    };
    let read = |key: &'static str, path: &Path| {
        std::fs::read(path).map_err(|cause| TlsError::Unreadable {
            listener: listener.to_string(),
            key,
            path: path.display().to_string(),
            cause,
        })
    };
    let (chain_pem, key_pem, source) = match &ssl.keystore_location {
        Some(path) => {
            let bytes = read("ssl.keystore.location", path)?;
            (
                bytes.clone(),
                bytes,
                format!("ssl.keystore.location {}", path.display()),
            )
        }
        None => {
            let chain = ssl
                .keystore_certificate_chain
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec())
                .unwrap_or_default();
            let key = ssl
                .keystore_key
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec())
                .unwrap_or_default();
            (chain, key, "ssl.keystore.certificate.chain".to_string())
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("{source}: unreadable PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{source} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    let key_source = if ssl.keystore_location.is_some() {
        source.clone()
    } else {
        "ssl.keystore.key".to_string()
    };
    let key_text = String::from_utf8_lossy(&key_pem);
    if key_text.contains("ENCRYPTED PRIVATE KEY") || key_text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(invalid(format!(
            "{key_source} holds an encrypted private key, which Gregor does not decrypt (ssl.key.password is not used): store it unencrypted, e.g. `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-unencrypted.pem`, and keep the file readable by the broker only"
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(format!(
            "{key_source} holds no readable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| invalid(format!("{key_source}: unusable private key: {e}")))?;
    CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|_| {
            invalid(format!(
                "the certificate in {source} does not match the private key in {key_source}"
            ))
        })?;
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if ssl.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if ssl.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(format!("ssl.enabled.protocols: {e}")))?;
    let builder = match ssl.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let roots = trust_roots(listener, ssl)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| invalid(format!("ssl.truststore: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("{source}: {e}")))?;
    Ok(Arc::new(config))
}

/// The CA certificates of `ssl.truststore.location` or `ssl.truststore.certificates`.
fn trust_roots(listener: &str, ssl: &SslSettings) -> Result<RootCertStore, TlsError> {
    let (pem, source) = match (&ssl.truststore_location, &ssl.truststore_certificates) {
        (Some(path), _) => (
            std::fs::read(path).map_err(|cause| TlsError::Unreadable {
                listener: listener.to_string(),
                key: "ssl.truststore.location",
                path: path.display().to_string(),
                cause,
            })?,
            format!("ssl.truststore.location {}", path.display()),
        ),
        (None, Some(inline)) => (
            inline.expose().as_bytes().to_vec(),
            "ssl.truststore.certificates".to_string(),
        ),
        (None, None) => (Vec::new(), "ssl.truststore.location".to_string()),
    };
    let invalid = |what: String| TlsError::Invalid {
        listener: listener.to_string(),
        what,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| invalid(format!("{source}: unreadable PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("{source}: unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(format!(
            "{source} holds no PEM certificate to check client certificates against"
        )));
    }
    Ok(roots)
}

/// The principal of a TLS connection, as Kafka's default builder and the `DEFAULT` mapping
/// rule give it: `User:` and the client certificate's full subject, or `User:ANONYMOUS`
/// without one.
pub fn peer_principal(connection: &rustls::ServerConnection) -> KafkaPrincipal {
    match connection.peer_certificates().and_then(|c| c.first()) {
        Some(cert) => match super::x500::subject_name(cert) {
            Ok(name) => KafkaPrincipal::user(name),
            Err(e) => {
                // The verifier accepted it, so this is a gap in the DER reader, not the client.
                tracing::warn!(cause = %e, "cannot read the client certificate's subject; treating the client as ANONYMOUS");
                KafkaPrincipal::anonymous()
            }
        },
        None => KafkaPrincipal::anonymous(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::process::Command;

    /// A self-signed certificate and its key made by the openssl CLI, in `dir`.
    fn openssl_pair(dir: &Path, name: &str, subject: &str) -> Option<(String, String)> {
        let key = dir.join(format!("{name}.key"));
        let cert = dir.join(format!("{name}.crt"));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
            ])
            .arg("-subj")
            .arg(subject)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .ok()?
            .status
            .success();
        ok.then(|| {
            (
                std::fs::read_to_string(&cert).unwrap(),
                std::fs::read_to_string(&key).unwrap(),
            )
        })
    }

    fn settings(chain: &str, key: &str) -> SslSettings {
        SslSettings {
            keystore_location: None,
            keystore_certificate_chain: Some(Secret::new(chain)),
            keystore_key: Some(Secret::new(key)),
            key_password: None,
            truststore_location: None,
            truststore_certificates: None,
            client_auth: ClientAuth::None,
            tls12: true,
            tls13: true,
        }
    }

    #[test]
    fn keystores_load_and_mismatches_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let Some((cert_a, key_a)) = openssl_pair(dir.path(), "a", "/CN=a") else {
            eprintln!("no openssl CLI here; skipping");
            return;
        };
        let (_, key_b) = openssl_pair(dir.path(), "b", "/CN=b").unwrap();
        server_config("SSL", &settings(&cert_a, &key_a)).unwrap();
        let err = server_config("SSL", &settings(&cert_a, &key_b))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
        let err = server_config("SSL", &settings(&cert_a, ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no readable PEM private key"), "{err}");
        let err = server_config("SSL", &settings("", &key_a))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        // One file with both, as ssl.keystore.location.
        let both = dir.path().join("both.pem");
        std::fs::write(&both, format!("{cert_a}{key_a}")).unwrap();
        let mut from_file = settings("", "");
        from_file.keystore_certificate_chain = None;
        from_file.keystore_key = None;
        from_file.keystore_location = Some(both);
        server_config("SSL", &from_file).unwrap();
        from_file.keystore_location = Some(dir.path().join("missing.pem"));
        let err = server_config("SSL", &from_file).unwrap_err().to_string();
        assert!(err.contains("cannot read ssl.keystore.location"), "{err}");
        // Client auth needs CA certificates.
        let mut mtls = settings(&cert_a, &key_a);
        mtls.client_auth = ClientAuth::Required;
        mtls.truststore_certificates = Some(Secret::new(cert_a.clone()));
        server_config("SSL", &mtls).unwrap();
        mtls.truststore_certificates = Some(Secret::new("nothing"));
        let err = server_config("SSL", &mtls).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn encrypted_keys_get_a_clear_error() {
        let err = server_config(
            "SSL",
            &settings(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            ),
        );
        let err = err.unwrap_err().to_string();
        assert!(err.contains("encrypted private key"), "{err}");
        assert!(err.contains("openssl pkcs8"), "{err}");
    }
}
