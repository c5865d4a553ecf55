//! `listeners` and `advertised.listeners`: Kafka's `NAME://host:port` lists, reduced to the one
//! PLAINTEXT listener Gregor serves. Kafka counterpart: `EndPoint` and `KafkaConfig.listeners`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// One listener: its name (`PLAINTEXT` unless named otherwise) and where it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    /// Host or address as written; empty means every interface.
    pub host: String,
    pub port: u16,
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
}

/// The chosen listener and what was skipped on the way.
#[derive(Debug)]
pub struct Picked {
    pub listener: Listener,
    pub warnings: Vec<String>,
}

const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Parses `NAME://host:port` or a bare `host:port` (named PLAINTEXT, as `--listen` takes it).
fn parse_entry(entry: &str) -> Result<Listener, String> {
    let entry = entry.trim();
    let (name, rest) = match entry.split_once("://") {
        Some((name, rest)) => (name.trim().to_ascii_uppercase(), rest),
        None => ("PLAINTEXT".to_string(), entry),
    };
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("NAME://host:port, got `{entry}` (no port)"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("NAME://host:port with a port from 0 to 65535, got `{entry}`"))?;
    if name.is_empty() {
        return Err(format!(
            "NAME://host:port, got `{entry}` (no listener name)"
        ));
    }
    Ok(Listener {
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

/// Picks the listener to serve from a `listeners` value: controller listeners are skipped,
/// anything but PLAINTEXT is refused, and of several PLAINTEXT listeners the first is served.
pub fn pick(value: &str, protocol_map: &str, controllers: &str) -> Result<Picked, String> {
    let controllers = names(controllers);
    let mut map = Vec::new();
    for pair in protocol_map.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, protocol) = pair.split_once(':').ok_or_else(|| {
            format!("listener.security.protocol.map entries like NAME:PROTOCOL, got `{pair}`")
        })?;
        map.push((
            name.trim().to_ascii_uppercase(),
            protocol.trim().to_ascii_uppercase(),
        ));
    }
    let mut warnings = Vec::new();
    let mut chosen: Option<Listener> = None;
    for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
        let listener = parse_entry(entry)?;
        if controllers.contains(&listener.name) {
            warnings.push(format!(
                "ignoring the KRaft controller listener {} (Gregor has no controller quorum)",
                entry.trim()
            ));
            continue;
        }
        let protocol = map
            .iter()
            .find(|(n, _)| *n == listener.name)
            .map(|(_, p)| p.clone())
            .or_else(|| PROTOCOLS.contains(&listener.name.as_str()).then(|| listener.name.clone()))
            .ok_or_else(|| {
                format!(
                    "a listener name with a protocol: add {}:PLAINTEXT to listener.security.protocol.map",
                    listener.name
                )
            })?;
        if protocol != "PLAINTEXT" {
            return Err(format!(
                "PLAINTEXT listeners only: {} uses {protocol}, and Gregor has no TLS or SASL (remove that listener)",
                entry.trim()
            ));
        }
        if let Some(first) = &chosen {
            warnings.push(format!(
                "Gregor serves one listener: using {}://{}:{}, ignoring {}",
                first.name,
                first.host,
                first.port,
                entry.trim()
            ));
            continue;
        }
        chosen = Some(listener);
    }
    let listener =
        chosen.ok_or_else(|| "at least one PLAINTEXT://host:port listener".to_string())?;
    Ok(Picked { listener, warnings })
}

/// From an `advertised.listeners` value, the `host:port` of the listener named `name` (or of
/// the only one given); `None` means advertise the bound address.
pub fn pick_advertised(
    value: &str,
    name: &str,
    controllers: &str,
) -> Result<(Option<String>, Vec<String>), String> {
    let controllers = names(controllers);
    let mut entries = Vec::new();
    for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
        let listener = parse_entry(entry)?;
        if !controllers.contains(&listener.name) {
            entries.push(listener);
        }
    }
    let mut warnings = Vec::new();
    let chosen = match entries.iter().find(|l| l.name == name) {
        Some(l) => l.clone(),
        None => match entries.first() {
            Some(l) => {
                warnings.push(format!(
                    "advertised.listeners has no entry named {name}; advertising {}://{}:{}",
                    l.name, l.host, l.port
                ));
                l.clone()
            }
            None => return Ok((None, warnings)),
        },
    };
    let host = chosen.host.trim_matches(['[', ']']);
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
    Ok((Some(format!("{host}:{}", chosen.port)), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA_MAP: &str = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL";

    #[test]
    fn kafka_example_listeners_pick_plaintext_and_skip_the_controller() {
        let p = pick(
            "PLAINTEXT://:9092,CONTROLLER://:9093",
            KAFKA_MAP,
            "CONTROLLER",
        )
        .unwrap();
        assert_eq!(p.listener.name, "PLAINTEXT");
        assert_eq!(
            p.listener.socket_addr().unwrap(),
            "0.0.0.0:9092".parse().unwrap()
        );
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("CONTROLLER"));
        let (adv, w) = pick_advertised(
            "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "PLAINTEXT",
            "CONTROLLER",
        )
        .unwrap();
        assert_eq!(adv.as_deref(), Some("localhost:9092"));
        assert!(w.is_empty());
    }

    #[test]
    fn bare_host_port_is_a_plaintext_listener() {
        let p = pick("127.0.0.1:0", "", "").unwrap();
        assert_eq!(
            p.listener.socket_addr().unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        let p = pick("[::1]:9092", "", "").unwrap();
        assert_eq!(
            p.listener.socket_addr().unwrap(),
            "[::1]:9092".parse().unwrap()
        );
        let (adv, _) = pick_advertised("[::1]:9092", "PLAINTEXT", "").unwrap();
        assert_eq!(adv.as_deref(), Some("[::1]:9092"));
    }

    #[test]
    fn named_listeners_need_a_plaintext_protocol() {
        let p = pick("CLIENT://:9092", "CLIENT:PLAINTEXT", "").unwrap();
        assert_eq!(p.listener.name, "CLIENT");
        assert!(pick("CLIENT://:9092", "", "")
            .unwrap_err()
            .contains("CLIENT:PLAINTEXT"));
        assert!(pick("SSL://:9093", "", "")
            .unwrap_err()
            .contains("PLAINTEXT listeners only"));
    }

    #[test]
    fn extra_listeners_are_warned_about() {
        let p = pick("PLAINTEXT://:9092,OTHER://:9094", "OTHER:PLAINTEXT", "").unwrap();
        assert_eq!(p.listener.port, 9092);
        assert!(p.warnings[0].contains("OTHER"));
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
        assert!(pick_advertised("PLAINTEXT://0.0.0.0:9092", "PLAINTEXT", "")
            .unwrap_err()
            .contains("wildcard"));
    }
}
