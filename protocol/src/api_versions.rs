//! The one table of APIs this broker serves: it answers ApiVersions and gates decoding, so the
//! two cannot drift apart.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

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
];

/// The supported APIs and their version ranges.
#[derive(Debug, Clone)]
pub struct ApiTable {
    entries: Vec<(ApiKey, VersionRange)>,
}

impl ApiTable {
    /// The broker's table; `with_groups` adds the group coordinator's APIs.
    pub fn new(with_groups: bool) -> ApiTable {
        let mut entries: Vec<(ApiKey, VersionRange)> = CORE_APIS
            .iter()
            .chain(if with_groups { GROUP_APIS } else { &[] })
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
        ApiTable { entries }
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

    /// The ApiVersions response body listing every supported API.
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
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(api_keys)
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
}
