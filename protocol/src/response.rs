//! Response encoding: size prefix, the response header in the version the API and version call
//! for, then the body; and the error codes a response carries, for the per-request log line.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use crate::error::ProtocolError;

/// Encodes a whole response frame for `api_key` at `version` into `out`.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<(), ProtocolError> {
    let start = out.len();
    out.put_i32(0);
    // ApiVersions answers with header v0 at every version, so a client that sent a version
    // the broker does not know can still read the answer.
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(out, header_version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    body.encode(out, version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    let size = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// The distinct non-zero error codes in `body`, at every level it has them (response, topic,
/// partition, group, member), ascending. Responses of APIs the broker does not answer give none.
pub fn error_codes(body: &ResponseKind) -> Vec<i16> {
    let mut codes = Vec::new();
    collect_error_codes(body, &mut codes);
    codes.retain(|&c| c != 0);
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// Error codes as a log field: `38 INVALID_REPLICATION_FACTOR, 36 TOPIC_ALREADY_EXISTS`, with
/// Kafka's names (an unknown code is shown alone).
pub fn describe_error_codes(codes: &[i16]) -> String {
    let named: Vec<String> = codes
        .iter()
        .map(|&code| match ResponseError::try_from_code(code) {
            Some(ResponseError::Unknown(_)) | None => code.to_string(),
            Some(error) => format!("{code} {}", kafka_name(&error)),
        })
        .collect();
    named.join(", ")
}

/// `TopicAlreadyExists` as Kafka's `Errors` spells it: `TOPIC_ALREADY_EXISTS`.
fn kafka_name(error: &ResponseError) -> String {
    let mut name = String::new();
    for (i, c) in format!("{error:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The error codes one level down: `nested_codes!(r.topics, partitions)` gives the code of every
/// partition of every topic.
macro_rules! nested_codes {
    ($outer:expr, $inner:ident) => {
        $outer.iter().flat_map(|t| &t.$inner).map(|p| p.error_code)
    };
}

/// Pushes every error code of `body`, zeros included. One arm per API the broker answers: a
/// new API gets its arm here, or its errors go unlogged.
fn collect_error_codes(body: &ResponseKind, out: &mut Vec<i16>) {
    match body {
        ResponseKind::ApiVersions(r) => out.push(r.error_code),
        ResponseKind::Produce(r) => out.extend(nested_codes!(r.responses, partition_responses)),
        ResponseKind::Fetch(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.responses, partitions));
        }
        ResponseKind::ListOffsets(r) => out.extend(nested_codes!(r.topics, partitions)),
        ResponseKind::Metadata(r) => {
            out.push(r.error_code);
            for t in &r.topics {
                out.push(t.error_code);
                out.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::CreateTopics(r) => {
            for t in &r.topics {
                out.push(t.error_code);
                out.push(t.topic_config_error_code);
            }
        }
        ResponseKind::DeleteTopics(r) => out.extend(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::CreatePartitions(r) => out.extend(r.results.iter().map(|t| t.error_code)),
        ResponseKind::InitProducerId(r) => out.push(r.error_code),
        ResponseKind::DescribeCluster(r) => out.push(r.error_code),
        ResponseKind::DescribeConfigs(r) => out.extend(r.results.iter().map(|c| c.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => {
            out.extend(r.responses.iter().map(|c| c.error_code));
        }
        ResponseKind::AlterConfigs(r) => out.extend(r.responses.iter().map(|c| c.error_code)),
        ResponseKind::FindCoordinator(r) => {
            out.push(r.error_code);
            out.extend(r.coordinators.iter().map(|c| c.error_code));
        }
        ResponseKind::JoinGroup(r) => out.push(r.error_code),
        ResponseKind::SyncGroup(r) => out.push(r.error_code),
        ResponseKind::Heartbeat(r) => out.push(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            out.push(r.error_code);
            out.extend(r.members.iter().map(|m| m.error_code));
        }
        ResponseKind::OffsetCommit(r) => out.extend(nested_codes!(r.topics, partitions)),
        ResponseKind::OffsetFetch(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.topics, partitions));
            for g in &r.groups {
                out.push(g.error_code);
                out.extend(nested_codes!(g.topics, partitions));
            }
        }
        ResponseKind::DescribeGroups(r) => out.extend(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::ListGroups(r) => out.push(r.error_code),
        ResponseKind::DeleteGroups(r) => out.extend(r.results.iter().map(|g| g.error_code)),
        ResponseKind::OffsetDelete(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.topics, partitions));
        }
        ResponseKind::DeleteRecords(r) => out.extend(nested_codes!(r.topics, partitions)),
        ResponseKind::OffsetForLeaderEpoch(r) => out.extend(nested_codes!(r.topics, partitions)),
        ResponseKind::DescribeAcls(r) => out.push(r.error_code),
        ResponseKind::CreateAcls(r) => out.extend(r.results.iter().map(|c| c.error_code)),
        ResponseKind::DeleteAcls(r) => out.extend(r.filter_results.iter().map(|f| f.error_code)),
        ResponseKind::DescribeLogDirs(r) => {
            out.push(r.error_code);
            out.extend(r.results.iter().map(|d| d.error_code));
        }
        ResponseKind::ElectLeaders(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.replica_election_results, partition_result));
        }
        ResponseKind::AlterPartitionReassignments(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.responses, partitions));
        }
        ResponseKind::ListPartitionReassignments(r) => out.push(r.error_code),
        ResponseKind::DescribeClientQuotas(r) => out.push(r.error_code),
        ResponseKind::SaslHandshake(r) => out.push(r.error_code),
        ResponseKind::SaslAuthenticate(r) => out.push(r.error_code),
        ResponseKind::AlterUserScramCredentials(r) => {
            out.extend(r.results.iter().map(|u| u.error_code))
        }
        ResponseKind::DescribeUserScramCredentials(r) => {
            out.push(r.error_code);
            out.extend(r.results.iter().map(|u| u.error_code));
        }
        ResponseKind::DescribeQuorum(r) => {
            out.push(r.error_code);
            out.extend(nested_codes!(r.topics, partitions));
        }
        ResponseKind::DescribeProducers(r) => out.extend(nested_codes!(r.topics, partitions)),
        ResponseKind::DescribeTopicPartitions(r) => {
            for t in &r.topics {
                out.push(t.error_code);
                out.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{CreateTopicsResponse, FetchResponse};

    #[test]
    fn codes_are_gathered_from_every_level_once() {
        let body = ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(vec![
                PartitionData::default().with_error_code(3),
                PartitionData::default(),
                PartitionData::default().with_error_code(1),
                PartitionData::default().with_error_code(3),
            ]),
        ]));
        assert_eq!(error_codes(&body), vec![1, 3]);
    }

    #[test]
    fn a_refused_create_topics_names_its_errors() {
        let body = ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default().with_error_code(38),
            CreatableTopicResult::default().with_error_code(36),
        ]));
        assert_eq!(
            describe_error_codes(&error_codes(&body)),
            "36 TOPIC_ALREADY_EXISTS, 38 INVALID_REPLICATION_FACTOR"
        );
    }

    #[test]
    fn unknown_codes_are_shown_alone() {
        assert_eq!(
            describe_error_codes(&[-1, 9999]),
            "-1 UNKNOWN_SERVER_ERROR, 9999"
        );
    }
}
