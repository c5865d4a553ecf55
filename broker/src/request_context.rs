//! What a request's handler knows of the connection it came on: the client's address, the
//! listener (name, protocol, the address it advertises) and the authenticated principal. The
//! one place an authorizer will read who is asking. Kafka counterpart: `RequestContext`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::SecurityProtocol;
use crate::security::KafkaPrincipal;

/// A bound listener as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener name (`PLAINTEXT`, `SASL_SSL`, a custom name).
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// The address it bound.
    pub bound: SocketAddr,
    /// Host and port its clients are told to connect to: Metadata, FindCoordinator and
    /// DescribeCluster answer with these, so a client stays on the listener it came in on.
    pub advertised: (String, i32),
}

/// The connection a request came on.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener it connected to.
    pub endpoint: Arc<Endpoint>,
    /// Who it authenticated as: `User:ANONYMOUS` on PLAINTEXT and on SSL without a client
    /// certificate, the certificate's subject on SSL with one, the SASL user on SASL_*.
    pub principal: KafkaPrincipal,
}

impl RequestContext {
    /// A context for tests and internal callers: a PLAINTEXT listener at `peer`'s address,
    /// anonymous.
    pub fn plaintext(peer: SocketAddr) -> RequestContext {
        RequestContext {
            peer,
            endpoint: Arc::new(Endpoint {
                name: "PLAINTEXT".into(),
                protocol: SecurityProtocol::Plaintext,
                bound: peer,
                advertised: (peer.ip().to_string(), i32::from(peer.port())),
            }),
            principal: KafkaPrincipal::anonymous(),
        }
    }
}
