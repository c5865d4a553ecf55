//! The one table of APIs this broker serves: it answers ApiVersions and gates decoding, so the
//! two cannot drift apart; and the feature levels (KIP-584) ApiVersions reports with them.

use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

/// APIs of the broker core, with the ranges Apache Kafka 4.x accepts (capped at what the
/// `kafka-protocol` crate can decode when a request arrives).
const CORE_APIS: &[(ApiKey, i16, i16)] = &[
    // Advertised from 0 although 0-2 are refused: librdkafka before 2.11.1 enables gzip and
    // snappy only when the Produce range reaches 0 (Kafka 4.x advertises it the same way).
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
];

/// The admin APIs a UI or a tool asks one broker, at Apache Kafka 4.4's ranges (DescribeLogDirs
/// goes to v5 there; the crate decodes up to v4, which caps it).
const ADMIN_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeLogDirs, 1, 5),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Served on every listener, as Kafka does; outside a SASL listener's handshake they are
    // answered ILLEGAL_SASL_STATE.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTopicPartitions, 0, 0),
];

/// A feature flag as ApiVersions v3+ reports it (KIP-584).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Kafka's feature name.
    pub name: &'static str,
    /// The lowest level this broker supports.
    pub min_supported: i16,
    /// The highest level this broker supports.
    pub max_supported: i16,
    /// The level in force (Kafka reports finalized levels as `level..level`).
    pub finalized: i16,
}

/// The features this broker reports, with Apache Kafka 4.4's levels where Gregor does what the
/// level stands for:
/// - `metadata.version` 33 (4.4-IV2), the level a fresh Kafka 4.4 is formatted with, and the
///   range a 4.4 broker supports (3.3-IV3 to 4.4-IV2);
/// - `kraft.version` 1: DescribeQuorum answers as a KIP-853 quorum of one voter, with its
///   directory id and endpoint.
///
/// - `group.version` 1: KIP-848 consumer groups (ConsumerGroupHeartbeat and
///   ConsumerGroupDescribe); the Java consumer with `group.protocol=consumer` requires it.
/// - `transaction.version` 2 (KIP-890 part 2), as a fresh Kafka 4.4 finalizes it: Produce v12+
///   and TxnOffsetCommit v5 add their partition to the transaction themselves, EndTxn v5 bumps
///   the epoch at every commit and abort. A broker can finalize 1 instead
///   (`ApiTable::with_feature_level`), where clients send AddPartitionsToTxn and keep their
///   epoch; `__transaction_state` values are the flexible version 1 at either level.
///
/// Left out until the APIs behind them exist: `share.version`, `streams.version` and
/// `eligible.leader.replicas.version` (which only matters with replicas to elect from). Kafka
/// leaves out a feature at level 0 the same way, so clients read them as off.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "group.version",
        min_supported: 0,
        max_supported: 1,
        finalized: 1,
    },
    Feature {
        name: "kraft.version",
        min_supported: 0,
        max_supported: 1,
        finalized: 1,
    },
    Feature {
        name: "metadata.version",
        min_supported: 7,
        max_supported: 33,
        finalized: 33,
    },
    Feature {
        name: "transaction.version",
        min_supported: 0,
        max_supported: 2,
        finalized: 2,
    },
];

/// The epoch of the finalized features: the metadata log offset they were read at, in Kafka.
/// Gregor's features never change and it keeps no metadata log, so this is 0 (a client treats
/// any epoch from 0 up as known features).
pub const FINALIZED_FEATURES_EPOCH: i64 = 0;

/// The transaction coordinator's APIs, at Apache Kafka 4.x's ranges.
const TXN_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
];

/// The group coordinator's APIs.
const GROUP_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // KIP-848, at Kafka 4.x's ranges (which kafka-protocol 0.18 decodes whole).
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The supported APIs and their version ranges.
#[derive(Debug, Clone)]
pub struct ApiTable {
    entries: Vec<(ApiKey, VersionRange)>,
    /// The features reported, `FEATURES` unless a level was changed.
    features: Vec<Feature>,
}

impl ApiTable {
    /// The broker's table; `with_groups` adds the group coordinator's APIs.
    pub fn new(with_groups: bool) -> ApiTable {
        let mut entries: Vec<(ApiKey, VersionRange)> = CORE_APIS
            .iter()
            .chain(ADMIN_APIS)
            .chain(if with_groups { GROUP_APIS } else { &[] })
            .chain(if with_groups { TXN_APIS } else { &[] })
            .map(|&(key, min, max)| {
                let decodable = key.valid_versions();
                (
                    key,
                    VersionRange {
                        min,
                        max: max.min(decodable.max),
                    },
                )
            })
            .collect();
        entries.sort_by_key(|(key, _)| *key as i16);
        ApiTable {
            entries,
            features: FEATURES.to_vec(),
        }
    }

    /// The table with feature `name` finalized at `level` (clamped to what is supported).
    pub fn with_feature_level(mut self, name: &str, level: i16) -> ApiTable {
        for f in self.features.iter_mut().filter(|f| f.name == name) {
            f.finalized = level.clamp(f.min_supported, f.max_supported);
        }
        self
    }

    /// The finalized level of feature `name` (0 when not reported).
    pub fn feature_level(&self, name: &str) -> i16 {
        self.features
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.finalized)
    }

    /// The advertised range of `key`, if the broker serves it.
    pub fn advertised(&self, key: ApiKey) -> Option<VersionRange> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| *r)
    }

    /// Whether a request of `key` at `version` is served: advertised and decodable.
    pub fn accepts(&self, key: ApiKey, version: i16) -> bool {
        self.advertised(key)
            .is_some_and(|r| version >= r.min && version <= r.max)
            && version >= key.valid_versions().min
    }

    /// The ApiVersions response body listing every supported API and, from v3, the features.
    pub fn api_versions_response(&self, error_code: i16) -> ApiVersionsResponse {
        let api_keys = self
            .entries
            .iter()
            .map(|(key, range)| {
                ApiVersion::default()
                    .with_api_key(*key as i16)
                    .with_min_version(range.min)
                    .with_max_version(range.max)
            })
            .collect();
        let name = |f: &Feature| StrBytes::from_static_str(f.name);
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(api_keys)
            .with_supported_features(
                self.features
                    .iter()
                    .map(|f| {
                        SupportedFeatureKey::default()
                            .with_name(name(f))
                            .with_min_version(f.min_supported)
                            .with_max_version(f.max_supported)
                    })
                    .collect(),
            )
            .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
            .with_finalized_features(
                self.features
                    .iter()
                    .filter(|f| f.finalized > 0)
                    .map(|f| {
                        FinalizedFeatureKey::default()
                            .with_name(name(f))
                            .with_min_version_level(f.finalized)
                            .with_max_version_level(f.finalized)
                    })
                    .collect(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_is_advertised_from_zero_but_decoded_from_three() {
        let table = ApiTable::new(false);
        assert_eq!(table.advertised(ApiKey::Produce).unwrap().min, 0);
        assert!(!table.accepts(ApiKey::Produce, 2));
        assert!(table.accepts(ApiKey::Produce, 3));
        assert!(table.advertised(ApiKey::JoinGroup).is_none());
        assert!(ApiTable::new(true).accepts(ApiKey::JoinGroup, 9));
    }

    #[test]
    fn admin_apis_are_served_at_kafkas_ranges_capped_by_the_crate() {
        let table = ApiTable::new(true);
        let range = |key| table.advertised(key).map(|r| (r.min, r.max));
        assert_eq!(range(ApiKey::DeleteRecords), Some((0, 2)));
        assert_eq!(range(ApiKey::OffsetForLeaderEpoch), Some((2, 4)));
        assert_eq!(range(ApiKey::DescribeLogDirs), Some((1, 4)));
        assert_eq!(range(ApiKey::DescribeTopicPartitions), Some((0, 0)));
        // Not served: AlterClientQuotas needs quota storage, UpdateFeatures a way to change them.
        assert_eq!(range(ApiKey::AlterClientQuotas), None);
        assert_eq!(range(ApiKey::UpdateFeatures), None);
    }

    #[test]
    fn features_are_reported_with_finalized_levels() {
        let response = ApiTable::new(true).api_versions_response(0);
        let finalized: Vec<(String, i16, i16)> = response
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
            .collect();
        assert_eq!(
            finalized,
            vec![
                ("group.version".to_string(), 1, 1),
                ("kraft.version".to_string(), 1, 1),
                ("metadata.version".to_string(), 33, 33),
                ("transaction.version".to_string(), 2, 2)
            ]
        );
        assert_eq!(response.supported_features.len(), 4);
        assert_eq!(response.finalized_features_epoch, 0);
    }

    #[test]
    fn a_feature_can_be_finalized_lower_within_its_supported_range() {
        let table = ApiTable::new(true).with_feature_level("transaction.version", 1);
        assert_eq!(table.feature_level("transaction.version"), 1);
        let response = table.api_versions_response(0);
        let tv = response
            .finalized_features
            .iter()
            .find(|f| f.name.as_str() == "transaction.version")
            .expect("reported");
        assert_eq!((tv.min_version_level, tv.max_version_level), (1, 1));
        let clamped = ApiTable::new(true).with_feature_level("transaction.version", 9);
        assert_eq!(clamped.feature_level("transaction.version"), 2);
    }
}
