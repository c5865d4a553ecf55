//! Who a connection is: the principal its listener's authentication established. Kafka
//! counterpart: `KafkaPrincipal` and `DefaultKafkaPrincipalBuilder`.

use std::fmt;

/// A principal as Kafka names it: a type (`User`) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    /// The principal type; always `User` for the built-in authentication.
    pub principal_type: String,
    /// The user name, the certificate subject, or `ANONYMOUS`.
    pub name: String,
}

impl KafkaPrincipal {
    /// Kafka's principal type of users.
    pub const USER_TYPE: &'static str = "User";

    /// A `User:` principal.
    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: Self::USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`: a PLAINTEXT connection, or a TLS one without a client certificate.
    pub fn anonymous() -> KafkaPrincipal {
        Self::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_as_kafka_prints_them() {
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
        assert_eq!(
            KafkaPrincipal::user("CN=client,O=test").to_string(),
            "User:CN=client,O=test"
        );
    }
}
