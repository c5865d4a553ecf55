//! Per-listener TLS and SASL settings: `ssl.*`, `sasl.*` and `connections.max.reauth.ms`, each
//! overridable for one listener as `listener.name.<listener>.<key>` and, for a mechanism's JAAS
//! config, `listener.name.<listener>.<mechanism>.sasl.jaas.config`. Only the values are
//! resolved here; `security::tls` reads the PEM files at start-up. Kafka counterpart:
//! `ListenerName.configPrefix` and the `SslConfigs`/`SaslConfigs` broker keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::listeners::Listener;

/// A value that must never be printed: `Debug` and `Display` show `[hidden]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for; a client without one is still served.
    Requested,
    /// A client without a trusted certificate fails the handshake.
    Required,
}

/// The TLS settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// `ssl.keystore.location`: a PEM file with the certificate chain and the private key.
    pub keystore_location: Option<PathBuf>,
    /// `ssl.keystore.certificate.chain`: the chain inline, in PEM.
    pub keystore_certificate_chain: Option<Secret>,
    /// `ssl.keystore.key`: the private key inline, in PEM.
    pub keystore_key: Option<Secret>,
    /// `ssl.key.password`: the password of an encrypted private key.
    pub key_password: Option<Secret>,
    /// `ssl.truststore.location`: a PEM file of CA certificates client certificates must
    /// chain to.
    pub truststore_location: Option<PathBuf>,
    /// `ssl.truststore.certificates`: the same inline.
    pub truststore_certificates: Option<Secret>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: TLSv1.2 and/or TLSv1.3.
    pub tls12: bool,
    pub tls13: bool,
}

/// SASL mechanisms Gregor implements, by Kafka's names.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// The SASL settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms`, in the order given.
    pub enabled_mechanisms: Vec<String>,
    /// Each enabled mechanism's JAAS config (`<mechanism>.sasl.jaas.config`, else
    /// `sasl.jaas.config`), if set.
    pub jaas: BTreeMap<String, Secret>,
    /// `connections.max.reauth.ms`: 0 means sessions never expire.
    pub max_reauth_ms: i64,
    /// `sasl.server.max.receive.size`: the largest frame read before authentication.
    pub max_receive_size: usize,
    /// `gregor.sasl.plain.users.file`: more PLAIN users, a `user=password` line each.
    pub plain_users_file: Option<String>,
    /// OAUTHBEARER's key set, when `sasl.oauthbearer.jwks.endpoint.url` is set: signed tokens
    /// then, instead of unsecured ones.
    pub oauth_jwks: Option<crate::security::sasl::jwks::JwksSettings>,
}

/// What a listener needs beyond its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSecurity {
    pub ssl: Option<SslSettings>,
    pub sasl: Option<SaslSettings>,
}

/// The value set for a key (a per-listener one included), if any.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Resolves the security settings of `listener` from `get`: each key's `listener.name.<l>.`
/// form first, then the key itself, then the default. An error is (key, what was expected).
pub fn resolve(
    listener: &Listener,
    get: &Lookup<'_>,
) -> Result<ListenerSecurity, (String, String)> {
    let prefix = listener.config_prefix();
    let value = |key: &str| get(&format!("{prefix}{key}")).or_else(|| get(key));
    let key_of = |key: &str| match get(&format!("{prefix}{key}")) {
        Some(_) => format!("{prefix}{key}"),
        None => key.to_string(),
    };
    let nonempty = |key: &str| value(key).filter(|v| !v.trim().is_empty());
    let ssl = if listener.protocol.uses_tls() {
        for (key, default) in [("ssl.keystore.type", "PEM"), ("ssl.truststore.type", "PEM")] {
            let kind = value(key).unwrap_or_else(|| default.to_string());
            if !kind.trim().eq_ignore_ascii_case("PEM") {
                return Err((
                    key_of(key),
                    format!(
                        "PEM: Gregor does not read {} stores; convert it to PEM (the README's TLS section shows how with openssl and keytool)",
                        kind.trim()
                    ),
                ));
            }
        }
        let client_auth = match value("ssl.client.auth")
            .unwrap_or_else(|| "none".into())
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => {
                return Err((
                    key_of("ssl.client.auth"),
                    format!("one of none, requested, required (not {other})"),
                ))
            }
        };
        let protocols = value("ssl.enabled.protocols").unwrap_or_else(|| "TLSv1.2,TLSv1.3".into());
        let mut tls12 = false;
        let mut tls13 = false;
        for p in protocols
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match p {
                "TLSv1.2" => tls12 = true,
                "TLSv1.3" => tls13 = true,
                other => {
                    return Err((
                        key_of("ssl.enabled.protocols"),
                        format!(
                            "a list of TLSv1.2 and TLSv1.3 (Gregor's TLS library has no {other})"
                        ),
                    ))
                }
            }
        }
        if !tls12 && !tls13 {
            return Err((
                key_of("ssl.enabled.protocols"),
                "at least one of TLSv1.2 and TLSv1.3".into(),
            ));
        }
        let rules = value("ssl.principal.mapping.rules").unwrap_or_else(|| "DEFAULT".into());
        if rules.trim() != "DEFAULT" {
            return Err((
                key_of("ssl.principal.mapping.rules"),
                "DEFAULT (Gregor takes the principal from the certificate's full subject, as Kafka's default rule does)".into(),
            ));
        }
        let settings = SslSettings {
            keystore_location: nonempty("ssl.keystore.location").map(PathBuf::from),
            keystore_certificate_chain: nonempty("ssl.keystore.certificate.chain").map(Secret),
            keystore_key: nonempty("ssl.keystore.key").map(Secret),
            key_password: nonempty("ssl.key.password").map(Secret),
            truststore_location: nonempty("ssl.truststore.location").map(PathBuf::from),
            truststore_certificates: nonempty("ssl.truststore.certificates").map(Secret),
            client_auth,
            tls12,
            tls13,
        };
        let inline =
            settings.keystore_certificate_chain.is_some() || settings.keystore_key.is_some();
        if settings.keystore_location.is_none() && !inline {
            return Err((
                "ssl.keystore.location".to_string(),
                format!(
                    "the broker's certificate and key for the {} listener {}: set ssl.keystore.location to a PEM file holding both, or ssl.keystore.certificate.chain and ssl.keystore.key",
                    listener.protocol, listener.name
                ),
            ));
        }
        if inline
            && (settings.keystore_certificate_chain.is_none() || settings.keystore_key.is_none())
        {
            return Err((
                key_of("ssl.keystore.key"),
                "both ssl.keystore.certificate.chain and ssl.keystore.key (one is set without the other)".into(),
            ));
        }
        if client_auth != ClientAuth::None
            && settings.truststore_location.is_none()
            && settings.truststore_certificates.is_none()
        {
            return Err((
                key_of("ssl.client.auth"),
                "a truststore to check client certificates against (ssl.truststore.location or ssl.truststore.certificates) when ssl.client.auth is requested or required".into(),
            ));
        }
        Some(settings)
    } else {
        None
    };
    let sasl = if listener.protocol.uses_sasl() {
        let list = value("sasl.enabled.mechanisms").unwrap_or_else(|| MECHANISMS.join(","));
        let mut enabled = Vec::new();
        for m in list.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let m = m.to_ascii_uppercase();
            if !MECHANISMS.contains(&m.as_str()) {
                return Err((
                    key_of("sasl.enabled.mechanisms"),
                    format!("a list of {} (Gregor has no {m})", MECHANISMS.join(", ")),
                ));
            }
            if !enabled.contains(&m) {
                enabled.push(m);
            }
        }
        if enabled.is_empty() {
            return Err((
                key_of("sasl.enabled.mechanisms"),
                format!("at least one of {}", MECHANISMS.join(", ")),
            ));
        }
        let mut jaas = BTreeMap::new();
        for m in &enabled {
            let lower = m.to_ascii_lowercase();
            let text = get(&format!("{prefix}{lower}.sasl.jaas.config"))
                .or_else(|| get(&format!("{prefix}sasl.jaas.config")))
                .or_else(|| get(&format!("{lower}.sasl.jaas.config")))
                .or_else(|| get("sasl.jaas.config"));
            if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                jaas.insert(m.clone(), Secret(text));
            }
        }
        let int = |key: &str, default: i64| -> Result<i64, (String, String)> {
            match value(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| (key_of(key), "a whole number from 0 up".into())),
            }
        };
        Some(SaslSettings {
            enabled_mechanisms: enabled,
            jaas,
            max_reauth_ms: int("connections.max.reauth.ms", 0)?,
            max_receive_size: int("sasl.server.max.receive.size", 524_288)?.max(1) as usize,
            plain_users_file: get("gregor.sasl.plain.users.file")
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty()),
            oauth_jwks: match nonempty("sasl.oauthbearer.jwks.endpoint.url") {
                None => None,
                Some(url) => Some(crate::security::sasl::jwks::JwksSettings {
                    url: url.trim().to_string(),
                    audience: value("sasl.oauthbearer.expected.audience")
                        .unwrap_or_default()
                        .split(',')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect(),
                    issuer: nonempty("sasl.oauthbearer.expected.issuer")
                        .map(|i| i.trim().to_string()),
                    sub_claim: nonempty("sasl.oauthbearer.sub.claim.name")
                        .map_or_else(|| "sub".to_string(), |c| c.trim().to_string()),
                    clock_skew_s: int("sasl.oauthbearer.clock.skew.seconds", 30)?,
                }),
            },
        })
    } else {
        None
    };
    Ok(ListenerSecurity { ssl, sasl })
}

/// Whether a key's value is secret (passwords, private keys, JAAS configs), in any of its
/// per-listener or per-mechanism forms: such values are never printed.
pub fn is_sensitive(key: &str) -> bool {
    let mut base = key;
    if let Some(rest) = base.strip_prefix("listener.name.") {
        base = rest.split_once('.').map_or(rest, |(_, k)| k);
    }
    for m in MECHANISMS {
        if let Some(rest) = base.strip_prefix(&format!("{}.", m.to_ascii_lowercase())) {
            base = rest;
        }
    }
    super::kafka_keys::broker_key(base).is_some_and(|k| k.sensitive)
        || base.ends_with("password")
        || base.ends_with("sasl.jaas.config")
        || base == "ssl.keystore.key"
}

/// Whether `key` is a per-listener form Gregor reads: `listener.name.<l>.` before a security
/// key, or before `<mechanism>.sasl.jaas.config` / `<mechanism>.connections.max.reauth.ms`.
pub fn is_listener_key(key: &str, known: impl Fn(&str) -> bool) -> bool {
    let Some(rest) = key.strip_prefix("listener.name.") else {
        return false;
    };
    let Some((name, base)) = rest.split_once('.') else {
        return false;
    };
    if name.is_empty() {
        return false;
    }
    let base = MECHANISMS
        .iter()
        .find_map(|m| base.strip_prefix(&format!("{}.", m.to_ascii_lowercase())))
        .map_or(base, |b| {
            if b == "sasl.jaas.config" || b == "sasl.server.callback.handler.class" {
                b
            } else {
                ""
            }
        });
    (base.starts_with("ssl.") || base.starts_with("sasl.") || base == "connections.max.reauth.ms")
        && known(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::listeners::SecurityProtocol;

    fn listener(name: &str, protocol: SecurityProtocol) -> Listener {
        Listener {
            name: name.into(),
            protocol,
            host: String::new(),
            port: 0,
            advertised: None,
        }
    }

    fn settings<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn per_listener_keys_override_the_plain_ones() {
        let get = settings(&[
            ("ssl.keystore.location", "/default.pem"),
            (
                "listener.name.external.ssl.keystore.location",
                "/external.pem",
            ),
            ("listener.name.external.ssl.client.auth", "required"),
            ("ssl.truststore.location", "/ca.pem"),
        ]);
        let s = resolve(&listener("EXTERNAL", SecurityProtocol::Ssl), &get).unwrap();
        let ssl = s.ssl.unwrap();
        assert_eq!(ssl.keystore_location, Some(PathBuf::from("/external.pem")));
        assert_eq!(ssl.client_auth, ClientAuth::Required);
        assert!(ssl.tls12 && ssl.tls13);
        assert!(s.sasl.is_none());
        let s = resolve(&listener("SSL", SecurityProtocol::Ssl), &get).unwrap();
        assert_eq!(
            s.ssl.unwrap().keystore_location,
            Some(PathBuf::from("/default.pem"))
        );
        assert_eq!(
            resolve(&listener("PLAINTEXT", SecurityProtocol::Plaintext), &get).unwrap(),
            ListenerSecurity {
                ssl: None,
                sasl: None
            }
        );
    }

    #[test]
    fn keystores_must_be_pem_and_complete() {
        let l = listener("SSL", SecurityProtocol::Ssl);
        let err = resolve(&l, &settings(&[])).unwrap_err();
        assert!(err.1.contains("ssl.keystore.location"), "{err:?}");
        let err = resolve(
            &l,
            &settings(&[
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", "/k.p12"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.0, "ssl.keystore.type");
        assert!(err.1.contains("PKCS12"), "{err:?}");
        let err = resolve(&l, &settings(&[("ssl.keystore.key", "x")])).unwrap_err();
        assert!(err.1.contains("one is set without the other"), "{err:?}");
        let err = resolve(
            &l,
            &settings(&[
                ("ssl.keystore.location", "/k.pem"),
                ("ssl.client.auth", "required"),
            ]),
        )
        .unwrap_err();
        assert!(err.1.contains("truststore"), "{err:?}");
        let err = resolve(
            &l,
            &settings(&[
                ("ssl.keystore.location", "/k.pem"),
                ("ssl.enabled.protocols", "TLSv1.1"),
            ]),
        )
        .unwrap_err();
        assert!(err.1.contains("TLSv1.1"), "{err:?}");
    }

    #[test]
    fn sasl_mechanisms_and_their_jaas_configs() {
        let get = settings(&[
            ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                "PlainLoginModule required user_a=\"x\";",
            ),
            ("sasl.jaas.config", "ScramLoginModule required;"),
            ("connections.max.reauth.ms", "60000"),
        ]);
        let s = resolve(
            &listener("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext),
            &get,
        )
        .unwrap()
        .sasl
        .unwrap();
        assert_eq!(s.enabled_mechanisms, vec!["PLAIN", "SCRAM-SHA-512"]);
        assert!(s.jaas["PLAIN"].expose().contains("user_a"));
        assert!(s.jaas["SCRAM-SHA-512"].expose().contains("Scram"));
        assert_eq!(s.max_reauth_ms, 60_000);
        assert_eq!(s.max_receive_size, 524_288);
        let err = resolve(
            &listener("SASL_SSL", SecurityProtocol::SaslPlaintext),
            &settings(&[("sasl.enabled.mechanisms", "GSSAPI")]),
        )
        .unwrap_err();
        assert!(err.1.contains("GSSAPI"), "{err:?}");
        // Unset: every mechanism Gregor has.
        let s = resolve(
            &listener("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext),
            &settings(&[]),
        )
        .unwrap()
        .sasl
        .unwrap();
        assert_eq!(s.enabled_mechanisms.len(), MECHANISMS.len());
    }

    #[test]
    fn secrets_are_recognised_in_every_form_and_never_printed() {
        for key in [
            "ssl.keystore.key",
            "ssl.key.password",
            "sasl.jaas.config",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
            "listener.name.ssl.ssl.keystore.password",
            "ssl.truststore.certificates",
        ] {
            assert!(is_sensitive(key), "{key}");
        }
        for key in [
            "ssl.keystore.location",
            "listener.name.ssl.ssl.client.auth",
            "listeners",
        ] {
            assert!(!is_sensitive(key), "{key}");
        }
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[hidden]");
        let known = |k: &str| k == "ssl.keystore.location" || k == "sasl.jaas.config";
        assert!(is_listener_key(
            "listener.name.ssl.ssl.keystore.location",
            known
        ));
        assert!(is_listener_key(
            "listener.name.x.plain.sasl.jaas.config",
            known
        ));
        assert!(!is_listener_key(
            "listener.name.x.plain.ssl.keystore.location",
            known
        ));
        assert!(!is_listener_key("listener.name.x.num.partitions", known));
    }
}
