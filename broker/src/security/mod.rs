//! Authentication of client connections: TLS (`tls`), SASL (`sasl`) and the principal they
//! establish (`principal`), which every request carries in its `RequestContext`; and
//! authorization of requests by ACLs (`authorizer`, `acl_store`). Kafka counterpart: `org.apache.kafka.common.security`.

pub mod acl_store;
pub mod authorizer;
pub mod principal;
pub mod sasl;
pub mod scram_store;
pub mod tls;
pub mod x500;

pub use principal::KafkaPrincipal;
