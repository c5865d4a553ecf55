//! The settings Gregor reads, under Apache Kafka's broker key names, and the Kafka keys it
//! accepts but ignores. Kafka counterpart: the `ConfigDef` of `KafkaConfig`.

/// The type of a setting's value; checked for every source, even an overridden one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// `true` or `false` (any case, as Kafka accepts).
    Bool,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A decimal number in `min..=max`.
    Double { min: f64, max: f64 },
    /// A comma-separated list of `compact` and `delete` (a cleanup policy).
    Policy,
    /// Free text, checked when it is used (listeners, paths).
    Text,
}

/// A setting Gregor implements (or at least accepts and keeps, where `help` says so).
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
}

const I32: i64 = i32::MAX as i64;

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

/// Every key Gregor reads. The defaults are Gregor's, which are Kafka's except where noted.
pub const KEYS: &[Key] = &[
    Key { name: "listeners", kind: Kind::Text, default: "PLAINTEXT://127.0.0.1:9092",
        help: "Where clients connect: NAME://host:port,... with PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL listeners, or other names mapped in listener.security.protocol.map (an empty host means every interface). Gregor binds loopback by default, Kafka every interface. A KRaft controller listener is ignored." },
    Key { name: "advertised.listeners", kind: Kind::Text, default: "",
        help: "NAME://host:port clients of each listener are told to connect to; a listener without one advertises its bound address" },
    Key { name: "listener.security.protocol.map", kind: Kind::Text, default: "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
        help: "Listener name to security protocol (NAME:PROTOCOL,...), for listeners not named after their protocol" },
    Key { name: "ssl.keystore.type", kind: Kind::Text, default: "PEM",
        help: "PEM only (Kafka's default is JKS): convert JKS or PKCS12 stores as the README shows. Per listener as listener.name.<l>.ssl.keystore.type, as every ssl.* and sasl.* key" },
    Key { name: "ssl.keystore.location", kind: Kind::Text, default: "",
        help: "A PEM file with the broker's certificate chain and its private key (PKCS#8, PKCS#1 or SEC1)" },
    Key { name: "ssl.keystore.certificate.chain", kind: Kind::Text, default: "",
        help: "The broker's certificate chain inline, in PEM (with ssl.keystore.key)" },
    Key { name: "ssl.keystore.key", kind: Kind::Text, default: "",
        help: "The broker's private key inline, in PEM (unencrypted)" },
    Key { name: "ssl.key.password", kind: Kind::Text, default: "",
        help: "Password of an encrypted private key: Gregor reads unencrypted keys only and says so at start" },
    Key { name: "ssl.keystore.password", kind: Kind::Text, default: "",
        help: "Accepted; a PEM keystore has no store password" },
    Key { name: "ssl.truststore.type", kind: Kind::Text, default: "PEM",
        help: "PEM only (Kafka's default is JKS)" },
    Key { name: "ssl.truststore.location", kind: Kind::Text, default: "",
        help: "A PEM file of the CA certificates client certificates must chain to (ssl.client.auth)" },
    Key { name: "ssl.truststore.certificates", kind: Kind::Text, default: "",
        help: "The same CA certificates inline, in PEM" },
    Key { name: "ssl.truststore.password", kind: Kind::Text, default: "",
        help: "Accepted; a PEM truststore has no password" },
    Key { name: "ssl.client.auth", kind: Kind::Choice(&["none", "requested", "required"]), default: "none",
        help: "Client certificates: none, requested (checked when sent) or required; the principal is the certificate's subject (User:CN=...,OU=...)" },
    Key { name: "ssl.enabled.protocols", kind: Kind::Text, default: "TLSv1.2,TLSv1.3",
        help: "TLS versions served: TLSv1.2 and/or TLSv1.3" },
    Key { name: "ssl.protocol", kind: Kind::Text, default: "TLSv1.3",
        help: "Accepted; ssl.enabled.protocols decides the versions" },
    Key { name: "ssl.principal.mapping.rules", kind: Kind::Text, default: "DEFAULT",
        help: "DEFAULT only: the principal is the client certificate's full subject" },
    Key { name: "sasl.enabled.mechanisms", kind: Kind::Text, default: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
        help: "SASL mechanisms of SASL_* listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (Kafka's default is GSSAPI, which Gregor lacks)" },
    Key { name: "sasl.jaas.config", kind: Kind::Text, default: "",
        help: "JAAS config of every mechanism without listener.name.<l>.<mechanism>.sasl.jaas.config; PLAIN users come from its user_<name>=\"<password>\" options" },
    Key { name: "connections.max.reauth.ms", kind: int(0, i64::MAX), default: "0",
        help: "Longest SASL session before the client must re-authenticate (KIP-368); 0 means never" },
    Key { name: "sasl.server.max.receive.size", kind: int(1, I32), default: "524288",
        help: "Largest frame read from a SASL client before it has authenticated" },
    Key { name: "gregor.sasl.plain.users.file", kind: Kind::Text, default: "",
        help: "SASL/PLAIN users besides the JAAS config's user_<name> options: a file of user=password lines (# comments), read at start-up, for every SASL listener" },
    Key { name: "sasl.oauthbearer.jwks.endpoint.url", kind: Kind::Text, default: "",
        help: "OAUTHBEARER: a file: URL of a JSON Web Key Set; set, tokens must be signed (RS256/384/512, ES256/384) by one of its keys instead of unsecured; read at start-up" },
    Key { name: "sasl.oauthbearer.expected.audience", kind: Kind::Text, default: "",
        help: "OAUTHBEARER with a key set: comma-separated audiences, one of which the token's aud must hold" },
    Key { name: "sasl.oauthbearer.expected.issuer", kind: Kind::Text, default: "",
        help: "OAUTHBEARER with a key set: the iss the token must have" },
    Key { name: "sasl.oauthbearer.sub.claim.name", kind: Kind::Text, default: "sub",
        help: "OAUTHBEARER with a key set: the claim naming the principal" },
    Key { name: "sasl.oauthbearer.clock.skew.seconds", kind: int(0, I32), default: "30",
        help: "OAUTHBEARER with a key set: allowed clock difference for exp, iat and nbf" },
    Key { name: "sasl.server.callback.handler.class", kind: Kind::Text, default: "",
        help: "Accepted (Kafka's OAuthBearerValidatorCallbackHandler goes with a key set); Gregor picks the OAUTHBEARER validator from sasl.oauthbearer.jwks.endpoint.url" },
    Key { name: "authorizer.class.name", kind: Kind::Text, default: "",
        help: "org.apache.kafka.metadata.authorizer.StandardAuthorizer turns ACLs on (kept in the data dir, managed with kafka-acls.sh); empty: everyone may do everything" },
    Key { name: "super.users", kind: Kind::Text, default: "",
        help: "Principals allowed everything whatever the ACLs say, separated by semicolons: User:admin;User:ops" },
    Key { name: "allow.everyone.if.no.acl.found", kind: Kind::Bool, default: "false",
        help: "With an authorizer, allow an operation on a resource that no ACL names" },
    Key { name: "controller.listener.names", kind: Kind::Text, default: "",
        help: "Listeners of a KRaft controller: Gregor skips them (it has no controller quorum)" },
    Key { name: "log.dirs", kind: Kind::Text, default: "./gregor-data",
        help: "Data directory: topics, partition logs and group offsets (the first of a list is used)" },
    Key { name: "log.dir", kind: Kind::Text, default: "",
        help: "Data directory when log.dirs is not set" },
    Key { name: "node.id", kind: int(0, I32), default: "1", help: "This broker's id, as clients see it" },
    Key { name: "broker.id", kind: int(-1, I32), default: "",
        help: "Older name of node.id (used when node.id is not set)" },
    Key { name: "num.partitions", kind: int(1, I32), default: "1",
        help: "Partitions of a topic created without a count" },
    Key { name: "auto.create.topics.enable", kind: Kind::Bool, default: "true",
        help: "Create a topic when a producer or a metadata request first names it" },
    Key { name: "message.max.bytes", kind: int(0, I32), default: "1048588",
        help: "Largest record batch a topic accepts unless it sets max.message.bytes" },
    Key { name: "socket.request.max.bytes", kind: int(1, I32), default: "104857600",
        help: "Largest request accepted; larger ones close the connection" },
    Key { name: "max.connections", kind: int(1, I32), default: "10000",
        help: "Client connections served at once (Kafka's default is unlimited)" },
    Key { name: "log.retention.hours", kind: int(i64::MIN, I32), default: "168",
        help: "Delete segments older than this (ms wins over minutes, minutes over hours)" },
    Key { name: "log.retention.minutes", kind: int(i64::MIN, I32), default: "",
        help: "Retention time in minutes" },
    Key { name: "log.retention.ms", kind: int(i64::MIN, i64::MAX), default: "",
        help: "Retention time in ms; -1 keeps records forever" },
    Key { name: "log.retention.bytes", kind: int(i64::MIN, i64::MAX), default: "-1",
        help: "Delete the oldest segments while a partition is larger; -1 means no limit" },
    Key { name: "log.segment.bytes", kind: int(14, I32), default: "1073741824",
        help: "Roll to a new segment at this size" },
    Key { name: "log.roll.hours", kind: int(1, I32), default: "168",
        help: "Roll to a new segment once the active one is this old (log.roll.ms wins)" },
    Key { name: "log.roll.ms", kind: int(1, i64::MAX), default: "", help: "Segment age limit in ms" },
    Key { name: "log.flush.interval.messages", kind: int(1, i64::MAX), default: "9223372036854775807",
        help: "Fsync after this many records; 1 means every append is on disk before it is acknowledged (group commit)" },
    Key { name: "log.flush.interval.ms", kind: int(0, i64::MAX), default: "9223372036854775807",
        help: "Fsync when the oldest unflushed record is this old" },
    Key { name: "log.flush.offset.checkpoint.interval.ms", kind: int(0, I32), default: "60000",
        help: "How often the recovery points are checkpointed: after a crash, segments past the checkpointed one are scanned" },
    Key { name: "log.flush.start.offset.checkpoint.interval.ms", kind: int(0, I32), default: "60000",
        help: "How often the log start offsets are checkpointed (DeleteRecords writes them at once)" },
    Key { name: "gregor.log.scrub.bytes.per.second", kind: int(0, i64::MAX), default: "67108864",
        help: "Rate at which a background thread checks the CRCs a trusted start-up skipped (fetches check unscrubbed batches meanwhile); 0 turns it off. Not a Kafka key" },
    Key { name: "gregor.log.bytes.per.sync", kind: int(0, i64::MAX), default: "1048576",
        help: "After this many bytes appended to a segment, a background thread starts their writeback to disk and waits for the range before, so dirty page cache stays small and the kernel's bulk writeback does not stall appends (RocksDB's bytes_per_sync; no durability promise, appends never wait for it); 0 leaves writeback to the kernel. Not a Kafka key" },
    Key { name: "log.index.interval.bytes", kind: int(0, I32), default: "4096",
        help: "Bytes of log between two offset index entries" },
    Key { name: "log.index.size.max.bytes", kind: int(4, I32), default: "10485760",
        help: "Largest size of an offset or time index" },
    Key { name: "log.message.timestamp.type", kind: Kind::Choice(&["CreateTime", "LogAppendTime"]), default: "CreateTime",
        help: "Topics' default message.timestamp.type: keep the producer's timestamps (CreateTime) or stamp batches with the append time" },
    Key { name: "log.message.timestamp.before.max.ms", kind: int(0, i64::MAX), default: "9223372036854775807",
        help: "A CreateTime timestamp further in the past is refused with INVALID_TIMESTAMP (timestamp -1 is always accepted)" },
    Key { name: "log.message.timestamp.after.max.ms", kind: int(0, i64::MAX), default: "3600000",
        help: "A CreateTime timestamp further in the future is refused with INVALID_TIMESTAMP (Kafka 4's default: an hour)" },
    Key { name: "log.cleanup.policy", kind: Kind::Policy, default: "delete",
        help: "Topics' default cleanup.policy: delete (retention), compact (the log cleaner keeps the latest record per key), or compact,delete" },
    Key { name: "log.cleaner.enable", kind: Kind::Bool, default: "true",
        help: "Run the log cleaner, which compacts topics whose cleanup.policy has compact" },
    Key { name: "log.cleaner.threads", kind: int(0, I32), default: "1",
        help: "Threads cleaning logs, each taking the dirtiest log in turn" },
    Key { name: "log.cleaner.backoff.ms", kind: int(0, i64::MAX), default: "15000",
        help: "How long a cleaner thread sleeps when no log needs cleaning" },
    Key { name: "log.cleaner.io.max.bytes.per.second", kind: Kind::Double { min: 0.0, max: f64::MAX }, default: "1.7976931348623157E308",
        help: "Bytes the cleaners read and write per second, all threads together" },
    Key { name: "log.cleaner.dedupe.buffer.size", kind: int(0, i64::MAX), default: "134217728",
        help: "Memory for the cleaners' key maps, all threads together (24 bytes per key): a log with more keys in its dirty part is cleaned in several passes" },
    Key { name: "log.cleaner.delete.retention.ms", kind: int(0, i64::MAX), default: "86400000",
        help: "Topics' default delete.retention.ms: how long a tombstone stays after it is cleaned" },
    Key { name: "log.cleaner.min.cleanable.ratio", kind: Kind::Double { min: 0.0, max: 1.0 }, default: "0.5",
        help: "Topics' default min.cleanable.dirty.ratio" },
    Key { name: "log.cleaner.min.compaction.lag.ms", kind: int(0, i64::MAX), default: "0",
        help: "Topics' default min.compaction.lag.ms" },
    Key { name: "log.cleaner.max.compaction.lag.ms", kind: int(1, i64::MAX), default: "9223372036854775807",
        help: "Topics' default max.compaction.lag.ms" },
    Key { name: "group.initial.rebalance.delay.ms", kind: int(0, I32), default: "0",
        help: "Wait before the first rebalance of a group that was empty, for more members to join. Kafka's default is 3000, its example config sets 0" },
    Key { name: "group.min.session.timeout.ms", kind: int(0, I32), default: "6000",
        help: "Shortest session timeout a consumer may ask for" },
    Key { name: "group.max.session.timeout.ms", kind: int(0, I32), default: "1800000",
        help: "Longest session timeout a consumer may ask for" },
    Key { name: "transaction.max.timeout.ms", kind: int(1, I32), default: "900000",
        help: "The longest transaction.timeout.ms a transactional producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond)" },
    Key { name: "transactional.id.expiration.ms", kind: int(1, I32), default: "604800000",
        help: "How long a transactional id without a transaction is kept" },
    Key { name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", kind: int(1, I32), default: "10000",
        help: "How often transactions past their timeout are looked for and aborted" },
    Key { name: "transaction.remove.expired.transaction.cleanup.interval.ms", kind: int(1, I32), default: "3600000",
        help: "How often expired transactional ids are removed" },
    Key { name: "add.partitions.to.txn.retry.backoff.max.ms", kind: int(0, I32), default: "100",
        help: "How long a transactional Produce (transaction.version 2) waits, while the producer's previous transaction is writing its markers, for its partition to join the new transaction before it is refused (NOT_ENOUGH_REPLICAS, which the client retries)" },
    Key { name: "transaction.state.log.segment.bytes", kind: int(1, I32), default: "104857600",
        help: "Segment size of __transaction_state" },
    Key { name: "gregor.transaction.version", kind: int(1, 2), default: "2",
        help: "The finalized level of the transaction.version feature ApiVersions reports: 2 (KIP-890 part 2, a fresh Kafka 4.4's: Produce adds partitions to the transaction, every EndTxn bumps the epoch) or 1 (clients send AddPartitionsToTxn). Kafka sets it with kafka-features.sh or at format time. Not a Kafka key" },
    Key { name: "group.max.size", kind: int(1, I32), default: "2147483647",
        help: "Most members of one consumer group" },
    Key { name: "group.consumer.session.timeout.ms", kind: int(1, I32), default: "45000",
        help: "Session timeout of KIP-848 consumer group members (group.protocol=consumer): no heartbeat for this long fences a member" },
    Key { name: "group.consumer.min.session.timeout.ms", kind: int(1, I32), default: "45000",
        help: "Lower bound of group.consumer.session.timeout.ms" },
    Key { name: "group.consumer.max.session.timeout.ms", kind: int(1, I32), default: "60000",
        help: "Upper bound of group.consumer.session.timeout.ms" },
    Key { name: "group.consumer.heartbeat.interval.ms", kind: int(1, I32), default: "5000",
        help: "How often KIP-848 consumer group members are told to heartbeat" },
    Key { name: "group.consumer.min.heartbeat.interval.ms", kind: int(1, I32), default: "5000",
        help: "Lower bound of group.consumer.heartbeat.interval.ms" },
    Key { name: "group.consumer.max.heartbeat.interval.ms", kind: int(1, I32), default: "15000",
        help: "Upper bound of group.consumer.heartbeat.interval.ms" },
    Key { name: "group.consumer.max.size", kind: int(1, I32), default: "2147483647",
        help: "Most members of one KIP-848 consumer group" },
    Key { name: "group.consumer.assignors", kind: Kind::Text, default: "uniform,range",
        help: "Server-side assignors of consumer groups, the first the default: uniform and range (short names or Kafka's class names)" },
    Key { name: "group.consumer.migration.policy", kind: Kind::Choice(&["bidirectional", "upgrade", "downgrade", "disabled"]), default: "bidirectional",
        help: "Online migration of a group with members between the classic and the consumer protocol: upgrade (a ConsumerGroupHeartbeat converts a classic group), downgrade (the last consumer-protocol member leaving converts it back), both, or disabled (a group with members refuses the other protocol; an empty one changes kind)" },
    Key { name: "offset.metadata.max.bytes", kind: int(0, I32), default: "4096",
        help: "Longest metadata string an offset commit may carry (longer: OFFSET_METADATA_TOO_LARGE)" },
    Key { name: "offsets.retention.minutes", kind: int(1, I32), default: "10080",
        help: "How long committed offsets of an empty group are kept (accepted and kept; Gregor keeps offsets until the group is deleted)" },
    Key { name: "gregor.http.listeners", kind: Kind::Text, default: "http://127.0.0.1:8092",
        help: "The live view and /metrics: http://HOST:PORT, loopback by default; empty turns it off. It has no authentication. Not a Kafka key" },
    Key { name: "log.format", kind: Kind::Choice(&["text", "json"]), default: "text",
        help: "Gregor's own diagnostics on stderr: text (coloured on a terminal) or json (one object a line). Not a Kafka key" },
];

/// Kafka keys that Gregor accepts with one warning: things a single node without replication,
/// security or a JVM has no use for. A prefix ends with a dot.
pub const IGNORED: &[(&str, &str)] = &[
    ("process.roles", "Gregor is always a single combined node"),
    ("controller.", "Gregor has no KRaft controller quorum"),
    ("zookeeper.", "Gregor needs no ZooKeeper"),
    ("metadata.", "Gregor keeps topic metadata in its data dir"),
    ("inter.broker.", "there are no other brokers"),
    ("broker.rack", "there are no other brokers"),
    ("replica.", "Gregor does not replicate"),
    ("num.replica.", "Gregor does not replicate"),
    ("default.replication.factor", "Gregor does not replicate"),
    ("min.insync.replicas", "Gregor does not replicate"),
    (
        "unclean.leader.election.enable",
        "Gregor does not replicate",
    ),
    ("auto.leader.rebalance.enable", "Gregor does not replicate"),
    ("leader.imbalance.", "Gregor does not replicate"),
    (
        "offsets.topic.",
        "__consumer_offsets has one partition on this node",
    ),
    (
        "offsets.commit.",
        "offset commits are answered after their append",
    ),
    (
        "transaction.state.log.",
        "__transaction_state has one partition on this node",
    ),
    (
        "transaction.partition.verification.enable",
        "partitions are verified by the transaction coordinator itself",
    ),
    // After the specific entries: the other knobs of Kafka's coordinator (load buffers, lock
    // timeouts, two-phase commit) have no counterpart here.
    (
        "transaction.",
        "Gregor's transaction coordinator has no such setting",
    ),
    ("share.", "Gregor does not implement share groups"),
    ("group.share.", "Gregor does not implement share groups"),
    (
        "group.consumer.",
        "Gregor implements the classic group protocol only",
    ),
    (
        "group.coordinator.",
        "Gregor implements the classic group protocol only",
    ),
    ("num.network.threads", "Gregor sizes its own thread pool"),
    ("num.io.threads", "Gregor sizes its own thread pool"),
    ("background.threads", "Gregor sizes its own thread pool"),
    (
        "num.recovery.threads.per.data.dir",
        "Gregor sizes its own thread pool",
    ),
    (
        "queued.max.requests",
        "each connection handles one request at a time",
    ),
    (
        "socket.send.buffer.bytes",
        "Gregor uses the OS socket buffer sizes",
    ),
    (
        "socket.receive.buffer.bytes",
        "Gregor uses the OS socket buffer sizes",
    ),
    (
        "socket.listen.backlog.size",
        "Gregor uses the OS default backlog",
    ),
    ("connections.max.idle.ms", "idle connections stay open"),
    (
        "log.retention.check.interval.ms",
        "retention is checked every second",
    ),
    ("log.cleaner.", "the cleaner sizes its own buffers"),
    (
        "log.message.",
        "record batches are stored as clients send them",
    ),
    ("log.preallocate", "Gregor always preallocates segments"),
    ("log.segment.delete.delay.ms", "deleted segments go at once"),
    ("delete.topic.enable", "topics can always be deleted"),
    (
        "compression.type",
        "batches are stored as the producer compressed them",
    ),
    ("ssl.", "Gregor does not use this TLS setting"),
    ("sasl.", "Gregor does not use this SASL setting"),
    ("security.", "there are no other brokers"),
    ("authorizer.", "Gregor's authorizer has no such setting"),
    (
        "listener.name.",
        "Gregor does not use this per-listener setting",
    ),
    (
        "early.start.listeners",
        "Gregor starts its listeners when ready",
    ),
    (
        "principal.builder.class",
        "Gregor builds principals as Kafka's default builder does",
    ),
    ("quota.", "Gregor has no quotas"),
    ("client.quota.", "Gregor has no quotas"),
    ("metric.", "Gregor has no JMX metrics"),
    ("metrics.", "Gregor has no JMX metrics"),
    ("kafka.metrics.", "Gregor has no JMX metrics"),
    ("remote.log.", "Gregor has no tiered storage"),
    ("log.local.retention.", "Gregor has no tiered storage"),
    ("producer.id.expiration.", "producer ids are not expired"),
    (
        "initial.broker.registration.timeout.ms",
        "there is no controller to register with",
    ),
    (
        "broker.heartbeat.interval.ms",
        "there is no controller to register with",
    ),
    (
        "broker.session.timeout.ms",
        "there is no controller to register with",
    ),
    (
        "cluster.id",
        "Gregor keeps its own cluster id in meta.properties",
    ),
    ("confluent.", "Confluent Platform settings do not apply"),
];

/// The key named `name`.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Why Gregor ignores the Kafka key `name`, if it does.
pub fn ignored(name: &str) -> Option<&'static str> {
    if find(name).is_some() {
        // A key Gregor reads is never ignored, even under an ignored prefix
        // (`controller.listener.names` under `controller.`).
        return None;
    }
    IGNORED.iter().find_map(|(pattern, why)| {
        let hit = if pattern.ends_with('.') {
            name.starts_with(pattern)
        } else {
            name == *pattern
        };
        hit.then_some(*why)
    })
}

/// Checks `value` against `kind`; the error says what was expected.
pub fn check(kind: Kind, value: &str) -> Result<(), String> {
    let value = value.trim();
    match kind {
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            Ok(_) if min == i64::MIN => Err(format!("a whole number of at most {max}")),
            _ => Err(format!("a whole number from {min} to {max}")),
        },
        Kind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| "true or false".to_string()),
        Kind::Choice(words) if words.contains(&value) => Ok(()),
        Kind::Choice(words) => Err(format!("one of: {}", words.join(", "))),
        Kind::Double { min, max } => match value.parse::<f64>() {
            Ok(n) if n >= min && n <= max => Ok(()),
            _ => Err(format!("a number from {min} to {max}")),
        },
        Kind::Policy => {
            let ok = value
                .split(',')
                .map(str::trim)
                .all(|i| i == "compact" || i == "delete");
            if ok {
                Ok(())
            } else {
                Err("a list of compact and delete".to_string())
            }
        }
        Kind::Text => Ok(()),
    }
}

/// `true`/`false` in any case, as Kafka's ConfigDef reads booleans.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The known key closest to `name`, for a "did you mean" hint.
pub fn suggest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (edit_distance(name, k.name), k.name))
        .filter(|(d, k)| *d <= 2.max(k.len() / 5))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// The help text listing every key: shown by `gregor --help`.
pub fn help_text() -> String {
    let mut out = String::from("Settings (Kafka broker key names; file key, GREGOR_ variable):\n");
    for key in KEYS {
        let default = if key.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", key.default)
        };
        out.push_str(&format!(
            "  {}  ({}){default}\n      {}\n",
            key.name,
            env_name("GREGOR_", key.name),
            key.help
        ));
    }
    out
}

/// The environment variable that sets `key` under `prefix`: upper case, `.` as `_`, `_` as `__`
/// and `-` as `___` (the apache/kafka image's rule).
pub fn env_name(prefix: &str, key: &str) -> String {
    let mut out = String::from(prefix);
    for c in key.chars() {
        match c {
            '.' => out.push('_'),
            '_' => out.push_str("__"),
            '-' => out.push_str("___"),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

/// The key an environment variable sets, the reverse of [`env_name`] (without the prefix).
pub fn key_of_env(rest: &str) -> String {
    let mut out = String::new();
    let mut underscores = 0;
    let flush = |out: &mut String, n: &mut usize| {
        match *n {
            0 => {}
            1 => out.push('.'),
            2 => out.push('_'),
            3 => out.push('-'),
            // Four or more: read them as groups of three and the rest, left to right.
            _ => {
                out.push('-');
                *n -= 3;
                out.push_str(&"_".repeat(*n));
            }
        }
        *n = 0;
    };
    for c in rest.chars() {
        if c == '_' {
            underscores += 1;
        } else {
            flush(&mut out, &mut underscores);
            out.push(c.to_ascii_lowercase());
        }
    }
    flush(&mut out, &mut underscores);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_round_trip() {
        for key in KEYS {
            let env = env_name("GREGOR_", key.name);
            assert_eq!(key_of_env(&env["GREGOR_".len()..]), key.name);
        }
        assert_eq!(
            env_name("KAFKA_", "advertised.listeners"),
            "KAFKA_ADVERTISED_LISTENERS"
        );
        assert_eq!(key_of_env("A__B___C_D"), "a_b-c.d");
    }

    #[test]
    fn ignored_keys_match_exactly_or_by_prefix() {
        assert!(ignored("process.roles").is_some());
        assert!(ignored("controller.quorum.voters").is_some());
        assert!(ignored("process.roles.x").is_none());
        assert!(ignored("num.partitions").is_none());
        assert!(ignored("controller.listener.names").is_none());
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check(int(1, 10), "5").is_ok());
        assert!(check(int(1, 10), " 5 ").is_ok());
        assert!(check(int(1, 10), "0").unwrap_err().contains("1 to 10"));
        assert!(check(int(1, 10), "five").is_err());
        assert!(check(Kind::Bool, "TRUE").is_ok());
        assert!(check(Kind::Bool, "yes")
            .unwrap_err()
            .contains("true or false"));
        assert!(check(Kind::Choice(&["delete"]), "compact")
            .unwrap_err()
            .contains("delete"));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("num.partition"), Some("num.partitions"));
        assert_eq!(suggest("log.retention.hour"), Some("log.retention.hours"));
        assert_eq!(suggest("completely.different"), None);
    }
}
