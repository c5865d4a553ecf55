//! `listeners`, `listener.security.protocol.map` and `advertised.listeners`: Kafka's
//! `NAME://host:port` lists, each listener with its security protocol and the address it
//! advertises. Kafka counterpart: `EndPoint`, `KafkaConfig.listeners` and
//! `KafkaConfig.effectiveAdvertisedBrokerListeners`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// How a listener's connections are secured (Kafka's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name of the protocol.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol named `name` (upper case).
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        Some(match name {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    /// Whether connections are wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL before other requests.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One listener: its name (`PLAINTEXT` unless named otherwise), its protocol, where it binds
/// and what it advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    /// From `listener.security.protocol.map`, or the name itself when it is a protocol's.
    pub protocol: SecurityProtocol,
    /// Host or address as written; empty means every interface.
    pub host: String,
    pub port: u16,
    /// `host:port` clients are told to connect to (`advertised.listeners`), if set; a port of
    /// 0 means the bound port.
    pub advertised: Option<String>,
}

impl Listener {
    /// The address to bind: an empty host is every IPv4 interface, a name is resolved.
    pub fn socket_addr(&self) -> Result<SocketAddr, String> {
        let host = self.host.trim_matches(['[', ']']);
        if host.is_empty() {
            return Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                self.port,
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addrs: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("a host name that resolves ({host}: {e})"))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("a host name that resolves ({host} has no address)"))
    }

    /// The host and port clients should use, given the address actually bound. An advertised
    /// port of 0 means the bound port, as in Kafka (useful with `listeners` on port 0).
    pub fn advertised(&self, bound: SocketAddr) -> (String, i32) {
        if let Some(listener) = &self.advertised {
            if let Some((host, port)) = listener.rsplit_once(':') {
                if let Ok(port) = port.parse::<i32>() {
                    let port = if port == 0 {
                        i32::from(bound.port())
                    } else {
                        port
                    };
                    return (host.trim_matches(['[', ']']).to_string(), port);
                }
            }
        }
        let host = if bound.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            bound.ip().to_string()
        };
        (host, i32::from(bound.port()))
    }

    /// The lower-case name Kafka puts in per-listener keys (`listener.name.sasl_ssl.`).
    pub fn config_prefix(&self) -> String {
        format!("listener.name.{}.", self.name.to_ascii_lowercase())
    }
}

/// The listeners to serve and what was skipped on the way.
#[derive(Debug)]
pub struct Picked {
    pub listeners: Vec<Listener>,
    pub warnings: Vec<String>,
}

/// An entry of `listeners` or `advertised.listeners`: its name (`None` for a bare
/// `host:port`), host and port.
struct Entry {
    name: Option<String>,
    host: String,
    port: u16,
}

/// Parses `NAME://host:port` or a bare `host:port` (named PLAINTEXT, as `--listen` takes it).
fn parse_entry(entry: &str) -> Result<Entry, String> {
    let entry = entry.trim();
    let (name, rest) = match entry.split_once("://") {
        Some((name, rest)) => (Some(name.trim().to_ascii_uppercase()), rest),
        None => (None, entry),
    };
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("NAME://host:port, got `{entry}` (no port)"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("NAME://host:port with a port from 0 to 65535, got `{entry}`"))?;
    if name.as_deref() == Some("") {
        return Err(format!(
            "NAME://host:port, got `{entry}` (no listener name)"
        ));
    }
    Ok(Entry {
        name,
        host: host.to_string(),
        port,
    })
}

fn names(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `listener.security.protocol.map` as (name, protocol) pairs.
fn protocol_map(value: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    let mut map = Vec::new();
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, protocol) = pair.split_once(':').ok_or_else(|| {
            format!("listener.security.protocol.map entries like NAME:PROTOCOL, got `{pair}`")
        })?;
        let protocol = protocol.trim().to_ascii_uppercase();
        let protocol = SecurityProtocol::from_name(&protocol).ok_or_else(|| {
            format!(
                "a security protocol of PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL in listener.security.protocol.map, got `{}`",
                pair.trim()
            )
        })?;
        map.push((name.trim().to_ascii_uppercase(), protocol));
    }
    Ok(map)
}

/// The listeners to serve from a `listeners` value: controller listeners are skipped, each
/// other one gets its protocol from `protocol_map` (or its name, when that is a protocol's).
/// Names and (non-zero) ports must differ, as Kafka requires.
pub fn pick(value: &str, protocol_map_value: &str, controllers: &str) -> Result<Picked, String> {
    let controllers = names(controllers);
    let map = protocol_map(protocol_map_value)?;
    let mut warnings = Vec::new();
    let mut listeners: Vec<Listener> = Vec::new();
    for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
        let parsed = parse_entry(entry)?;
        let name = parsed.name.unwrap_or_else(|| "PLAINTEXT".to_string());
        if controllers.contains(&name) {
            warnings.push(format!(
                "ignoring the KRaft controller listener {} (Gregor has no controller quorum)",
                entry.trim()
            ));
            continue;
        }
        let protocol = map
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .or_else(|| SecurityProtocol::from_name(&name))
            .ok_or_else(|| {
                format!(
                    "a listener name with a protocol: add {name}:PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL) to listener.security.protocol.map"
                )
            })?;
        if listeners.iter().any(|l| l.name == name) {
            return Err(format!(
                "each listener with a name of its own ({name} is listed twice)"
            ));
        }
        if parsed.port != 0 && listeners.iter().any(|l| l.port == parsed.port) {
            return Err(format!(
                "each listener on a port of its own ({} is listed twice)",
                parsed.port
            ));
        }
        listeners.push(Listener {
            name,
            protocol,
            host: parsed.host,
            port: parsed.port,
            advertised: None,
        });
    }
    if listeners.is_empty() {
        return Err("at least one listener, as NAME://host:port".to_string());
    }
    Ok(Picked {
        listeners,
        warnings,
    })
}

/// Sets each listener's advertised address from an `advertised.listeners` value: entries are
/// matched by name; a bare `host:port` is the first listener's. With one listener, an entry of
/// another name is taken for it (with a warning), as Gregor did when it served one listener.
pub fn set_advertised(
    listeners: &mut [Listener],
    value: &str,
    controllers: &str,
) -> Result<Vec<String>, String> {
    let controllers = names(controllers);
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
        let parsed = parse_entry(entry)?;
        if parsed
            .name
            .as_ref()
            .is_some_and(|n| controllers.contains(n))
        {
            continue;
        }
        entries.push(parsed);
    }
    for entry in entries {
        let index = match &entry.name {
            None => 0,
            Some(name) => match listeners.iter().position(|l| l.name == *name) {
                Some(i) => i,
                None if listeners.len() == 1 => {
                    warnings.push(format!(
                        "advertised.listeners has no entry named {}; advertising {name}://{}:{} for it",
                        listeners[0].name, entry.host, entry.port
                    ));
                    0
                }
                None => {
                    return Err(format!(
                        "advertised listener names that are in listeners ({name} is not)"
                    ))
                }
            },
        };
        if listeners[index].advertised.is_some() {
            if listeners.len() == 1 {
                // Several entries for the one listener: the first named for it wins.
                continue;
            }
            return Err(format!(
                "one advertised address per listener ({} has two)",
                listeners[index].name
            ));
        }
        let host = entry.host.trim_matches(['[', ']']);
        if host.is_empty() {
            return Err("a host clients can reach (advertised.listeners has an empty host)".into());
        }
        if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
            return Err(format!(
                "a host clients can connect to, not the wildcard address {host} (it means \"every interface\" only when binding): advertise localhost for clients on this machine, or a name or address other machines reach"
            ));
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        listeners[index].advertised = Some(format!("{host}:{}", entry.port));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA_MAP: &str = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL";

    fn advertised(value: &str, listeners: &str, map: &str) -> Result<Vec<Listener>, String> {
        let mut picked = pick(listeners, map, "CONTROLLER")?.listeners;
        set_advertised(&mut picked, value, "CONTROLLER")?;
        Ok(picked)
    }

    #[test]
    fn kafka_example_listeners_pick_plaintext_and_skip_the_controller() {
        let p = pick(
            "PLAINTEXT://:9092,CONTROLLER://:9093",
            KAFKA_MAP,
            "CONTROLLER",
        )
        .unwrap();
        assert_eq!(p.listeners.len(), 1);
        assert_eq!(p.listeners[0].name, "PLAINTEXT");
        assert_eq!(
            p.listeners[0].socket_addr().unwrap(),
            "0.0.0.0:9092".parse().unwrap()
        );
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("CONTROLLER"));
        let l = advertised(
            "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "PLAINTEXT://:9092,CONTROLLER://:9093",
            KAFKA_MAP,
        )
        .unwrap();
        assert_eq!(l[0].advertised.as_deref(), Some("localhost:9092"));
    }

    #[test]
    fn bare_host_port_is_a_plaintext_listener() {
        let p = pick("127.0.0.1:0", "", "").unwrap();
        assert_eq!(p.listeners[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(
            p.listeners[0].socket_addr().unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        let p = pick("[::1]:9092", "", "").unwrap();
        assert_eq!(
            p.listeners[0].socket_addr().unwrap(),
            "[::1]:9092".parse().unwrap()
        );
        let l = advertised("[::1]:9092", "[::1]:9092", "").unwrap();
        assert_eq!(l[0].advertised.as_deref(), Some("[::1]:9092"));
    }

    #[test]
    fn every_protocol_is_served_and_named_listeners_take_theirs_from_the_map() {
        let p = pick(
            "PLAINTEXT://:9092,SSL://:9093,SASL_PLAINTEXT://:9094,SASL_SSL://:9095,CLIENT://:9096",
            "CLIENT:SASL_SSL",
            "",
        )
        .unwrap();
        let protocols: Vec<SecurityProtocol> = p.listeners.iter().map(|l| l.protocol).collect();
        use SecurityProtocol::*;
        assert_eq!(
            protocols,
            vec![Plaintext, Ssl, SaslPlaintext, SaslSsl, SaslSsl]
        );
        assert_eq!(p.listeners[4].config_prefix(), "listener.name.client.");
        assert!(pick("CLIENT://:9092", "", "")
            .unwrap_err()
            .contains("CLIENT:PLAINTEXT"));
        assert!(pick("CLIENT://:9092", "CLIENT:TLS", "")
            .unwrap_err()
            .contains("security protocol"));
    }

    #[test]
    fn names_and_ports_must_differ() {
        assert!(pick("PLAINTEXT://:9092,PLAINTEXT://:9093", "", "")
            .unwrap_err()
            .contains("name of its own"));
        assert!(pick("PLAINTEXT://:9092,SSL://:9092", "", "")
            .unwrap_err()
            .contains("port of its own"));
        // Port 0 picks a free port for each.
        assert_eq!(
            pick("PLAINTEXT://:0,SSL://:0", "", "")
                .unwrap()
                .listeners
                .len(),
            2
        );
    }

    #[test]
    fn each_listener_advertises_its_own_address() {
        let l = advertised(
            "SSL://tls.example:19093,PLAINTEXT://plain.example:19092",
            "PLAINTEXT://:9092,SSL://:9093",
            "",
        )
        .unwrap();
        assert_eq!(l[0].advertised.as_deref(), Some("plain.example:19092"));
        assert_eq!(l[1].advertised.as_deref(), Some("tls.example:19093"));
        let bound: SocketAddr = "0.0.0.0:9093".parse().unwrap();
        assert_eq!(l[1].advertised(bound), ("tls.example".to_string(), 19093));
        // Unset: the bound address.
        let l = advertised("SSL://tls.example:0", "PLAINTEXT://:9092,SSL://:9093", "").unwrap();
        assert_eq!(
            l[0].advertised("0.0.0.0:9092".parse().unwrap()).0,
            "localhost"
        );
        assert_eq!(l[1].advertised(bound), ("tls.example".to_string(), 9093));
        assert!(
            advertised("OTHER://x:1", "PLAINTEXT://:9092,SSL://:9093", "")
                .unwrap_err()
                .contains("OTHER")
        );
    }

    #[test]
    fn malformed_listeners_are_errors() {
        for bad in [
            "PLAINTEXT://localhost",
            "PLAINTEXT://:99999",
            "://:9092",
            "",
        ] {
            assert!(pick(bad, "", "").is_err(), "{bad}");
        }
        assert!(
            advertised("PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://:9092", "")
                .unwrap_err()
                .contains("wildcard")
        );
    }
}
