//! Start-up checks that turn OS errors into messages a person can act on: binding the listener,
//! and whether clients can reach the advertised address through the bound one; and the open
//! files limit, raised as far as the system allows.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

/// Why the broker cannot start listening.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: the port is already in use, probably by another Gregor or Kafka broker. Stop that process (`ss -ltnp 'sport = :{port}'` shows which one holds it), or listen on another port with --listen {ip}:PORT (listeners=PLAINTEXT://{ip}:PORT; port 0 picks a free one)", port = addr.port(), ip = addr.ip())]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {ip} is not an address of this machine. Listen on 127.0.0.1 (this machine only) or 0.0.0.0 (every interface) with --listen, and put the name clients should use in --advertised-listener", ip = addr.ip())]
    NotLocal { addr: SocketAddr },
    #[error("cannot listen on {addr}: permission denied (ports below 1024 need privileges). Use a port from 1024 up, e.g. --listen {ip}:9092", ip = addr.ip())]
    Denied { addr: SocketAddr },
    #[error("cannot listen on {addr}: {cause}")]
    Other {
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

/// Binds the listener, explaining the usual failures.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| match cause.kind() {
            ErrorKind::AddrInUse => ListenError::InUse { addr },
            ErrorKind::AddrNotAvailable => ListenError::NotLocal { addr },
            ErrorKind::PermissionDenied => ListenError::Denied { addr },
            _ => ListenError::Other { addr, cause },
        })
}

/// What the advertised address means for clients, given the bound one.
#[derive(Debug, PartialEq, Eq)]
pub enum Reachability {
    /// Clients that reach the advertised address reach the listener (or it cannot be told).
    Fine,
    /// Only through something that forwards connections (a tunnel, a proxy, a port mapping).
    OnlyThroughAForwarder(String),
    /// Certainly not: the advertised address is this machine, on an address or port the
    /// listener does not accept.
    Unreachable(String),
}

/// Compares the advertised `host:port` with the bound address.
///
/// Clients connect to the advertised address after their first metadata request, so one the
/// listener does not accept makes every produce and fetch fail after a successful bootstrap,
/// the most confusing failure there is. Where that is certain (the advertised host is an
/// address of this machine that the bound address does not cover, on the bound port) the
/// start fails. Where a forwarder could make it work (binding loopback while advertising
/// another host: an SSH tunnel, a proxy, a container port mapping) it is a warning, since
/// refusing would break those set-ups.
pub fn reachability(bound: SocketAddr, host: &str, port: i32) -> Reachability {
    let bound_ip = bound.ip();
    let advertised: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match (host, 0).to_socket_addrs() {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) if bound_ip.is_loopback() => {
                return Reachability::OnlyThroughAForwarder(format!(
                    "the advertised host {host} does not resolve here, and gregor accepts connections on loopback ({bound}) only: clients elsewhere reach it only through a tunnel or proxy. To serve other machines, listen on every interface (--listen 0.0.0.0:{})",
                    bound.port()
                ))
            }
            Err(_) => return Reachability::Fine,
        },
    };
    let accepted = |ip: &IpAddr| bound_ip.is_unspecified() || *ip == bound_ip;
    if advertised.iter().any(accepted) {
        return if port == i32::from(bound.port()) {
            Reachability::Fine
        } else {
            Reachability::OnlyThroughAForwarder(format!(
                "clients are told to connect to {host}:{port} but gregor listens on port {}: that works only through a port mapping (e.g. docker -p {port}:{}). Advertise port {} if there is none",
                bound.port(),
                bound.port(),
                bound.port()
            ))
        };
    }
    let all_local = !advertised.is_empty() && advertised.iter().all(|ip| is_local(*ip));
    let fix = format!(
        "Listen where clients connect (--listen 0.0.0.0:{port} takes every interface; listeners=PLAINTEXT://:{port}), or advertise the bound address (--advertised-listener {}:{})",
        if bound_ip.is_unspecified() { "localhost".to_string() } else { bound_ip.to_string() },
        bound.port()
    );
    if all_local && port == i32::from(bound.port()) {
        Reachability::Unreachable(format!(
            "clients are told to connect to {host}:{port}, an address of this machine, but gregor accepts connections on {bound} only, so every client would fail after its first metadata request. {fix}"
        ))
    } else {
        Reachability::OnlyThroughAForwarder(format!(
            "clients are told to connect to {host}:{port}, but gregor accepts connections on {bound} only: that works only through a tunnel, proxy or port mapping that forwards to {bound}. {fix}"
        ))
    }
}

/// Whether `ip` is an address of this machine: binding a UDP socket to it succeeds only then.
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_bound_address_itself_is_fine() {
        assert_eq!(
            reachability(addr("127.0.0.1:9092"), "127.0.0.1", 9092),
            Reachability::Fine
        );
        assert_eq!(
            reachability(addr("127.0.0.1:9092"), "localhost", 9092),
            Reachability::Fine
        );
        assert_eq!(
            reachability(addr("0.0.0.0:9092"), "localhost", 9092),
            Reachability::Fine
        );
        assert_eq!(
            reachability(addr("0.0.0.0:9092"), "192.0.2.1", 9092),
            Reachability::Fine
        );
    }

    #[test]
    fn another_local_address_on_the_bound_port_is_unreachable() {
        // 127.0.0.2 is this machine (all of 127/8 is loopback) but not 127.0.0.1.
        let r = reachability(addr("127.0.0.1:9092"), "127.0.0.2", 9092);
        assert!(matches!(r, Reachability::Unreachable(_)), "{r:?}");
    }

    #[test]
    fn remote_hosts_and_other_ports_may_be_forwarded() {
        let r = reachability(addr("127.0.0.1:9092"), "192.0.2.1", 9092);
        assert!(matches!(r, Reachability::OnlyThroughAForwarder(_)), "{r:?}");
        let r = reachability(addr("0.0.0.0:9092"), "localhost", 29092);
        assert!(matches!(r, Reachability::OnlyThroughAForwarder(_)), "{r:?}");
    }
}

/// Raises the soft limit on open files to the hard limit and returns both (soft, hard) as they
/// are then. Each partition's active segment keeps its `.log`'s descriptor while half the
/// limit allows (`set_descriptor_budget`), so a soft limit of 1024, a common default, would
/// slow every append past a few hundred partitions; the JVM raises its limit the same way for
/// Kafka (`-XX:+MaxFDLimit`).
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

#[cfg(test)]
mod open_files_tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let (soft, hard) = super::raise_open_files_limit().unwrap();
        assert_eq!(soft, hard);
    }
}
