//! ACLs and the decision whether a principal may do an operation on a resource, with Kafka's
//! StandardAuthorizer semantics: super users may do anything; a matching DENY beats any ALLOW;
//! an ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE and one of ALTER_CONFIGS implies
//! DESCRIBE_CONFIGS; ALL matches every operation; `User:*` matches every principal, host `*`
//! every host, a LITERAL `*` every resource name and a PREFIXED pattern every name it begins;
//! a resource no ACL names is allowed only with `allow.everyone.if.no.acl.found`. Pure: the
//! store (`acl_store`) keeps the bindings, handlers ask. Kafka counterparts:
//! `StandardAuthorizerData`, `AclBinding(Filter)`, `AclOperation`, `Authorizer.authorizeByResourceType`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::KafkaPrincipal;

/// The name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL resource name matching every name; also the wildcard host.
pub const WILDCARD: &str = "*";
/// The principal matching every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// Kafka's class name of its authorizer, what `authorizer.class.name` is set to.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

macro_rules! coded_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every value, UNKNOWN and ANY included.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant),*];

            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            /// Kafka's name (`TRANSACTIONAL_ID`), for messages.
            pub fn name(self) -> String {
                let camel = match self { $($name::$variant => stringify!($variant)),* };
                let mut out = String::new();
                for (i, c) in camel.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        out.push('_');
                    }
                    out.push(c.to_ascii_uppercase());
                }
                out
            }

            /// The value of a wire code; UNKNOWN for a code Kafka does not define.
            pub fn from_code(code: i8) -> $name {
                match code { $($code => $name::$variant,)* _ => $name::Unknown }
            }
        }
    };
}

coded_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, Any = 1, Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5,
        DelegationToken = 6, User = 7,
    }
);

coded_enum!(
    /// Kafka's `PatternType`: bindings are LITERAL or PREFIXED; filters may also be ANY
    /// (either, name compared exactly) or MATCH (every binding that applies to the name).
    PatternType { Unknown = 0, Any = 1, Match = 2, Literal = 3, Prefixed = 4 }
);

coded_enum!(
    /// Kafka's `AclOperation`.
    AclOperation {
        Unknown = 0, Any = 1, All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7,
        Describe = 8, ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11,
        IdempotentWrite = 12, CreateTokens = 13, DescribeTokens = 14,
    }
);

coded_enum!(
    /// Kafka's `AclPermissionType`.
    PermissionType { Unknown = 0, Any = 1, Deny = 2, Allow = 3 }
);

impl ResourceType {
    /// The operations Kafka reports in an authorized-operations field for this resource type
    /// (`AclEntry.supportedOperations`).
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }
}

/// One ACL: who (principal, host) may or may not (permission) do what (operation) on which
/// resources (type, name, pattern type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, as Kafka prints a principal.
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

impl AclBinding {
    /// Whether this binding's pattern covers the resource named `name` (of its type).
    fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.name == name || self.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(self.name.as_str()),
            _ => false,
        }
    }

    /// Kafka's `findResult`: whether this binding says anything about `operation` by
    /// `principal` from `host` (its resource already matched), and if so, allow or deny.
    fn applies(&self, principal: &str, host: &str, operation: AclOperation) -> Option<bool> {
        if self.principal != principal && self.principal != WILDCARD_PRINCIPAL {
            return None;
        }
        if self.host != WILDCARD && self.host != host {
            return None;
        }
        let allow = self.permission == PermissionType::Allow;
        if self.operation != AclOperation::All {
            let implied = allow
                && match operation {
                    AclOperation::Describe => matches!(
                        self.operation,
                        AclOperation::Read
                            | AclOperation::Write
                            | AclOperation::Delete
                            | AclOperation::Alter
                    ),
                    AclOperation::DescribeConfigs => self.operation == AclOperation::AlterConfigs,
                    _ => false,
                };
            if self.operation != operation && !implied {
                return None;
            }
        }
        Some(allow)
    }
}

/// What DescribeAcls and DeleteAcls select: `None` fields and the ANY values match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

impl AclBindingFilter {
    /// Whether a field is UNKNOWN: Kafka refuses such a filter (INVALID_REQUEST).
    pub fn is_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == AclOperation::Unknown
            || self.permission == PermissionType::Unknown
    }

    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == PermissionType::Any || self.permission == acl.permission)
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let any_or_match = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_or_match && self.pattern_type != acl.pattern_type {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type != PatternType::Match {
            return *name == acl.name;
        }
        // MATCH: every binding that applies to the resource `name`.
        acl.covers(name)
    }
}

/// The settings of the authorizer (`super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Principals (`User:alice`) that may do anything.
    pub super_users: BTreeSet<String>,
    /// Allow an operation on a resource no ACL names.
    pub allow_if_no_acl: bool,
}

impl AuthorizerConfig {
    /// Parses `super.users`: principals separated by semicolons, as Kafka splits them.
    pub fn parse_super_users(value: &str) -> BTreeSet<String> {
        value
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Who asks: the principal and the client's address, as Kafka's authorizer sees a request.
#[derive(Debug, Clone)]
pub struct Requester {
    /// `Type:name`.
    pub principal: String,
    /// The client address as Java's `InetAddress.getHostAddress` prints it, since Kafka
    /// compares an ACL's host with that text: IPv4-mapped IPv6 addresses as IPv4, other
    /// IPv6 addresses as eight uncompressed groups (`0:0:0:0:0:0:0:1`, not `::1`).
    pub host: String,
}

impl Requester {
    /// The requester of `principal` connected from `addr`.
    pub fn new(principal: &KafkaPrincipal, addr: IpAddr) -> Requester {
        Requester {
            principal: principal.to_string(),
            host: java_host_address(addr),
        }
    }
}

/// `addr` as Java's `getHostAddress` writes it (the form `kafka-acls --allow-host` needs).
fn java_host_address(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            groups.join(":")
        }
    }
}

/// Decides with the configuration and a set of ACLs.
pub fn authorize(
    config: &AuthorizerConfig,
    acls: &BTreeSet<AclBinding>,
    who: &Requester,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if config.super_users.contains(&who.principal) {
        return true;
    }
    let mut named = false;
    let mut allowed = false;
    for acl in acls
        .iter()
        .filter(|a| a.resource_type == resource_type && a.covers(name))
    {
        named = true;
        match acl.applies(&who.principal, &who.host, operation) {
            Some(false) => return false,
            Some(true) => allowed = true,
            None => {}
        }
    }
    allowed || (!named && config.allow_if_no_acl)
}

/// The authorized-operations bit field of a resource (one bit per operation code, the
/// operations `supported_operations` lists), as Kafka's `AuthHelper.authorizedOperations`.
pub fn authorized_operations(
    config: &AuthorizerConfig,
    acls: &BTreeSet<AclBinding>,
    who: &Requester,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    resource_type
        .supported_operations()
        .iter()
        .filter(|op| authorize(config, acls, who, **op, resource_type, name))
        .fold(0, |bits, op| bits | 1 << op.code())
}

/// Whether `who` may do `operation` on some resource of `resource_type`: Kafka's
/// `Authorizer.authorizeByResourceType` (an idempotent producer needs WRITE on some topic).
pub fn authorize_by_resource_type(
    config: &AuthorizerConfig,
    acls: &BTreeSet<AclBinding>,
    who: &Requester,
    operation: AclOperation,
    resource_type: ResourceType,
) -> bool {
    // Kafka checks a made-up name first, so super users (and allow-if-no-ACL) pass.
    if authorize(config, acls, who, operation, resource_type, "hardcode") {
        return true;
    }
    let mut deny_literal = BTreeSet::new();
    let mut deny_prefixed = BTreeSet::new();
    let mut allow = Vec::new();
    for acl in acls.iter().filter(|a| {
        a.resource_type == resource_type
            && (a.host == who.host || a.host == WILDCARD)
            && (a.principal == who.principal || a.principal == WILDCARD_PRINCIPAL)
            && (a.operation == operation || a.operation == AclOperation::All)
    }) {
        let everything = match acl.pattern_type {
            PatternType::Literal => acl.name == WILDCARD,
            PatternType::Prefixed => acl.name.is_empty(),
            _ => continue,
        };
        match acl.permission {
            PermissionType::Deny if everything => return false,
            PermissionType::Deny if acl.pattern_type == PatternType::Literal => {
                deny_literal.insert(acl.name.as_str());
            }
            PermissionType::Deny => {
                deny_prefixed.insert(acl.name.as_str());
            }
            PermissionType::Allow if everything => return true,
            PermissionType::Allow => allow.push(acl),
            _ => {}
        }
    }
    allow.iter().any(|acl| {
        let literal_denied =
            acl.pattern_type == PatternType::Literal && deny_literal.contains(acl.name.as_str());
        let prefix_denied = acl
            .name
            .char_indices()
            .map(|(i, c)| &acl.name[..i + c.len_utf8()])
            .any(|prefix| deny_prefixed.contains(prefix));
        !literal_denied && !prefix_denied
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_addresses_print_as_java_does() {
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(java_host_address(v6), "0:0:0:0:0:0:0:1");
        let v6: IpAddr = "fe80::ab:1".parse().unwrap();
        assert_eq!(java_host_address(v6), "fe80:0:0:0:0:0:ab:1");
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(java_host_address(mapped), "10.0.0.7");
    }

    use super::*;
    use proptest::prelude::*;

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        host: &str,
        op: AclOperation,
        perm: PermissionType,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            name: name.into(),
            pattern_type: pt,
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission: perm,
        }
    }

    fn allow_topic(name: &str, pt: PatternType, principal: &str, op: AclOperation) -> AclBinding {
        acl(
            ResourceType::Topic,
            name,
            pt,
            principal,
            "*",
            op,
            PermissionType::Allow,
        )
    }

    fn who(principal: &str) -> Requester {
        Requester {
            principal: principal.into(),
            host: "10.0.0.1".into(),
        }
    }

    fn can(acls: &[AclBinding], w: &Requester, op: AclOperation, topic: &str) -> bool {
        let set = acls.iter().cloned().collect();
        authorize(
            &AuthorizerConfig::default(),
            &set,
            w,
            op,
            ResourceType::Topic,
            topic,
        )
    }

    #[test]
    fn read_implies_describe_but_not_write() {
        let acls = [allow_topic(
            "t",
            PatternType::Literal,
            "User:a",
            AclOperation::Read,
        )];
        let a = who("User:a");
        assert!(can(&acls, &a, AclOperation::Read, "t"));
        assert!(can(&acls, &a, AclOperation::Describe, "t"));
        assert!(!can(&acls, &a, AclOperation::Write, "t"));
        assert!(!can(&acls, &a, AclOperation::DescribeConfigs, "t"));
        assert!(!can(&acls, &who("User:b"), AclOperation::Read, "t"));
        assert!(!can(&acls, &a, AclOperation::Read, "t2"));
    }

    #[test]
    fn alter_configs_implies_describe_configs_and_all_implies_everything() {
        let acls = [
            allow_topic(
                "c",
                PatternType::Literal,
                "User:a",
                AclOperation::AlterConfigs,
            ),
            allow_topic("all", PatternType::Literal, "User:a", AclOperation::All),
        ];
        let a = who("User:a");
        assert!(can(&acls, &a, AclOperation::DescribeConfigs, "c"));
        assert!(!can(&acls, &a, AclOperation::Describe, "c"));
        for op in ResourceType::Topic.supported_operations() {
            assert!(can(&acls, &a, *op, "all"), "{op:?}");
        }
    }

    #[test]
    fn deny_beats_allow_and_a_deny_of_read_does_not_deny_describe() {
        let mut acls = vec![
            allow_topic("*", PatternType::Literal, "User:*", AclOperation::All),
            acl(
                ResourceType::Topic,
                "secret",
                PatternType::Prefixed,
                "User:a",
                "*",
                AclOperation::Read,
                PermissionType::Deny,
            ),
        ];
        let a = who("User:a");
        assert!(can(&acls, &a, AclOperation::Read, "public"));
        assert!(!can(&acls, &a, AclOperation::Read, "secret-1"));
        assert!(can(&acls, &a, AclOperation::Describe, "secret-1"));
        assert!(can(&acls, &who("User:b"), AclOperation::Read, "secret-1"));
        acls.push(acl(
            ResourceType::Topic,
            "secret-1",
            PatternType::Literal,
            "User:b",
            "10.0.0.1",
            AclOperation::All,
            PermissionType::Deny,
        ));
        assert!(!can(
            &acls,
            &who("User:b"),
            AclOperation::Describe,
            "secret-1"
        ));
        let elsewhere = Requester {
            principal: "User:b".into(),
            host: "10.0.0.2".into(),
        };
        assert!(can(&acls, &elsewhere, AclOperation::Describe, "secret-1"));
    }

    #[test]
    fn prefixed_and_literal_patterns_match_as_kafka() {
        let acls = [
            allow_topic("app-", PatternType::Prefixed, "User:a", AclOperation::Write),
            allow_topic("exact", PatternType::Literal, "User:a", AclOperation::Write),
        ];
        let a = who("User:a");
        assert!(can(&acls, &a, AclOperation::Write, "app-"));
        assert!(can(&acls, &a, AclOperation::Write, "app-orders"));
        assert!(!can(&acls, &a, AclOperation::Write, "app"));
        assert!(can(&acls, &a, AclOperation::Write, "exact"));
        assert!(!can(&acls, &a, AclOperation::Write, "exactly"));
        // A literal `*` is a wildcard only as a LITERAL name; a prefixed `*` is a prefix.
        let star = [allow_topic(
            "*",
            PatternType::Prefixed,
            "User:a",
            AclOperation::Write,
        )];
        assert!(!can(&star, &a, AclOperation::Write, "x"));
        assert!(can(&star, &a, AclOperation::Write, "*x"));
    }

    #[test]
    fn super_users_and_allow_everyone_if_no_acl_found() {
        let set: BTreeSet<AclBinding> = [allow_topic(
            "t",
            PatternType::Literal,
            "User:a",
            AclOperation::Read,
        )]
        .into_iter()
        .collect();
        let mut config = AuthorizerConfig {
            super_users: AuthorizerConfig::parse_super_users(" User:admin ; User:ops;"),
            allow_if_no_acl: false,
        };
        assert_eq!(config.super_users.len(), 2);
        let check = |c: &AuthorizerConfig, p: &str, topic: &str| {
            authorize(
                c,
                &set,
                &who(p),
                AclOperation::Write,
                ResourceType::Topic,
                topic,
            )
        };
        assert!(check(&config, "User:ops", "t"));
        assert!(!check(&config, "User:b", "other"));
        config.allow_if_no_acl = true;
        assert!(check(&config, "User:b", "other"));
        // Some ACL names `t`: no longer "no ACL found", whoever the ACL is for.
        assert!(!check(&config, "User:b", "t"));
    }

    #[test]
    fn authorized_operations_are_a_bit_field_of_codes() {
        let set: BTreeSet<AclBinding> = [allow_topic(
            "t",
            PatternType::Literal,
            "User:a",
            AclOperation::Read,
        )]
        .into_iter()
        .collect();
        let c = AuthorizerConfig::default();
        let bits = authorized_operations(&c, &set, &who("User:a"), ResourceType::Topic, "t");
        assert_eq!(bits, 1 << 3 | 1 << 8);
        let c = AuthorizerConfig {
            super_users: ["User:a".to_string()].into(),
            allow_if_no_acl: false,
        };
        assert_eq!(
            authorized_operations(&c, &set, &who("User:a"), ResourceType::Topic, "t"),
            crate::apis::metadata::TOPIC_AUTHORIZED_OPERATIONS
        );
    }

    #[test]
    fn authorize_by_resource_type_as_kafka() {
        let a = who("User:a");
        let by_type = |acls: &[AclBinding]| {
            let set = acls.iter().cloned().collect();
            authorize_by_resource_type(
                &AuthorizerConfig::default(),
                &set,
                &a,
                AclOperation::Write,
                ResourceType::Topic,
            )
        };
        let deny = |name: &str, pt| {
            acl(
                ResourceType::Topic,
                name,
                pt,
                "User:a",
                "*",
                AclOperation::Write,
                PermissionType::Deny,
            )
        };
        assert!(!by_type(&[]));
        let write_foo = allow_topic("foo", PatternType::Literal, "User:a", AclOperation::Write);
        assert!(by_type(std::slice::from_ref(&write_foo)));
        assert!(!by_type(&[
            write_foo.clone(),
            deny("foo", PatternType::Literal)
        ]));
        assert!(!by_type(&[
            write_foo.clone(),
            deny("f", PatternType::Prefixed)
        ]));
        assert!(by_type(&[
            write_foo.clone(),
            deny("g", PatternType::Prefixed)
        ]));
        assert!(!by_type(&[write_foo, deny("*", PatternType::Literal)]));
        assert!(!by_type(&[allow_topic(
            "foo",
            PatternType::Literal,
            "User:a",
            AclOperation::Read
        )]));
    }

    #[test]
    fn filters_match_as_kafka() {
        let prefixed = allow_topic("app-", PatternType::Prefixed, "User:a", AclOperation::Read);
        let literal = allow_topic("app-x", PatternType::Literal, "User:a", AclOperation::Read);
        let wildcard = allow_topic("*", PatternType::Literal, "User:b", AclOperation::Write);
        let filter = |name: Option<&str>, pt| AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: name.map(str::to_string),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: PermissionType::Any,
        };
        let m = filter(Some("app-x"), PatternType::Match);
        assert!(m.matches(&prefixed) && m.matches(&literal) && m.matches(&wildcard));
        let any = filter(Some("app-x"), PatternType::Any);
        assert!(!any.matches(&prefixed) && any.matches(&literal) && !any.matches(&wildcard));
        let lit = filter(Some("app-"), PatternType::Literal);
        assert!(!lit.matches(&prefixed));
        assert!(filter(None, PatternType::Prefixed).matches(&prefixed));
        assert!(!filter(None, PatternType::Prefixed).matches(&literal));
        let mut by_principal = filter(None, PatternType::Any);
        by_principal.principal = Some("User:b".into());
        assert!(by_principal.matches(&wildcard) && !by_principal.matches(&literal));
        assert!(filter(None, PatternType::Unknown).is_unknown());
        assert_eq!(PatternType::from_code(42), PatternType::Unknown);
        for op in AclOperation::ALL_VALUES {
            assert_eq!(AclOperation::from_code(op.code()), *op);
        }
    }

    // The model: the rules in the module doc, written as directly as possible.
    fn model(acls: &[AclBinding], w: &Requester, op: AclOperation, name: &str, open: bool) -> bool {
        let on_resource: Vec<&AclBinding> = acls
            .iter()
            .filter(|a| a.resource_type == ResourceType::Topic)
            .filter(|a| match a.pattern_type {
                PatternType::Literal => a.name == name || a.name == "*",
                _ => name.starts_with(&a.name),
            })
            .collect();
        let applies = |a: &&&AclBinding, allow: bool| {
            let ops: Vec<AclOperation> = match (a.operation, allow) {
                (AclOperation::All, _) => vec![op],
                (
                    AclOperation::Read
                    | AclOperation::Write
                    | AclOperation::Delete
                    | AclOperation::Alter,
                    true,
                ) => {
                    vec![a.operation, AclOperation::Describe]
                }
                (AclOperation::AlterConfigs, true) => {
                    vec![a.operation, AclOperation::DescribeConfigs]
                }
                (o, _) => vec![o],
            };
            (a.principal == w.principal || a.principal == "User:*")
                && (a.host == "*" || a.host == w.host)
                && ops.contains(&op)
                && (a.permission == PermissionType::Allow) == allow
        };
        if on_resource.iter().any(|a| applies(&a, false)) {
            return false;
        }
        if on_resource.iter().any(|a| applies(&a, true)) {
            return true;
        }
        on_resource.is_empty() && open
    }

    fn arb_acl() -> impl Strategy<Value = AclBinding> {
        (
            prop_oneof![Just(ResourceType::Topic), Just(ResourceType::Group)],
            prop_oneof![Just("*"), Just("a"), Just("ab"), Just("abc"), Just("b")],
            prop_oneof![Just(PatternType::Literal), Just(PatternType::Prefixed)],
            prop_oneof![Just("User:x"), Just("User:y"), Just("User:*")],
            prop_oneof![Just("*"), Just("10.0.0.1"), Just("10.0.0.2")],
            (2i8..=11).prop_map(AclOperation::from_code),
            prop_oneof![Just(PermissionType::Allow), Just(PermissionType::Deny)],
        )
            .prop_map(|(rt, name, pt, p, h, op, perm)| acl(rt, name, pt, p, h, op, perm))
    }

    proptest! {
        #[test]
        fn authorize_agrees_with_the_model(
            acls in proptest::collection::vec(arb_acl(), 0..8),
            principal in prop_oneof![Just("User:x"), Just("User:y")],
            op in (3i8..=11).prop_map(AclOperation::from_code),
            name in prop_oneof![Just("a"), Just("ab"), Just("abc"), Just("b"), Just("*"), Just("")],
            open in any::<bool>(),
        ) {
            let set: BTreeSet<AclBinding> = acls.iter().cloned().collect();
            let config = AuthorizerConfig { super_users: BTreeSet::new(), allow_if_no_acl: open };
            let w = who(principal);
            prop_assert_eq!(
                authorize(&config, &set, &w, op, ResourceType::Topic, name),
                model(&acls, &w, op, name, open)
            );
        }

        #[test]
        fn a_match_filter_selects_every_acl_that_applies_to_the_name(
            acls in proptest::collection::vec(arb_acl(), 0..8),
            name in prop_oneof![Just("a"), Just("ab"), Just("abc"), Just("b")],
        ) {
            let filter = AclBindingFilter {
                resource_type: ResourceType::Topic,
                name: Some(name.to_string()),
                pattern_type: PatternType::Match,
                principal: None,
                host: None,
                operation: AclOperation::Any,
                permission: PermissionType::Any,
            };
            for a in &acls {
                prop_assert_eq!(
                    filter.matches(a),
                    a.resource_type == ResourceType::Topic && a.covers(name)
                );
            }
        }
    }
}
