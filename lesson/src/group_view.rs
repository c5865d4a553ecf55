//! What the group coordinator says about the group: its state and which member owns which
//! partition, asked over one plain Kafka connection (DescribeGroups for a classic group,
//! ConsumerGroupDescribe for a consumer group), and the topic the lesson creates (CreateTopics).
//! The lesson narrates from this view, so what it tells is what the coordinator did; the
//! members' own reports are checked against it.
//!
//! A single-node broker is its own coordinator, so the bootstrap address is asked directly.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::create_topics_request::CreatableTopic;
use gregor_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerProtocolAssignment, CreateTopicsRequest, CreateTopicsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, RequestHeader, ResponseHeader, TopicName,
};
use gregor_protocol::StrBytes;

/// Kafka's TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: asked again
/// (Apache Kafka answers them until it has created and loaded `__consumer_offsets`).
const RETRIABLE: [i16; 3] = [14, 15, 16];

/// The view while the coordinator cannot answer yet.
fn not_yet() -> GroupView {
    GroupView {
        state: "Unknown".into(),
        ..GroupView::default()
    }
}

/// Which rebalance protocol the group's members speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JoinGroup/SyncGroup: the group's leader member computes the assignment.
    Classic,
    /// KIP-848: the coordinator computes it and members reconcile partition by partition.
    Consumer,
}

/// The group as the coordinator describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    /// Kafka's name of the group state (`Stable`, `PreparingRebalance`, `Reconciling`, ...).
    pub state: String,
    /// The classic generation, or the consumer group's epoch.
    pub epoch: i32,
    /// Partitions of the lesson's topic each member owns, by client id.
    pub members: BTreeMap<String, Vec<i32>>,
    /// Whether every member holds exactly what the coordinator assigned it.
    pub settled: bool,
}

/// One connection to the broker.
pub struct Coordinator {
    stream: TcpStream,
    correlation_id: i32,
}

impl Coordinator {
    /// Connects to `bootstrap` (`host:port`).
    pub fn connect(bootstrap: &str) -> anyhow::Result<Coordinator> {
        let stream = TcpStream::connect(bootstrap)
            .with_context(|| format!("connecting to the broker at {bootstrap}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Coordinator {
            stream,
            correlation_id: 0,
        })
    }

    fn call<T: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &T,
    ) -> anyhow::Result<R> {
        self.correlation_id += 1;
        let mut buf = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("gregor-lesson")))
            .encode(&mut buf, key.request_header_version(version))?;
        body.encode(&mut buf, version)?;
        let mut frame = (buf.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        self.stream.write_all(&frame)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = u32::from_be_bytes(size) as usize;
        if size > 16 << 20 {
            bail!("a {size}-byte response is more than a group description needs");
        }
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body)?;
        let mut body = bytes::Bytes::from(body);
        ResponseHeader::decode(&mut body, key.response_header_version(version))?;
        R::decode(&mut body, version)
    }

    /// Creates `topic` with `partitions`; false when it existed already.
    pub fn create_topic(&mut self, topic: &str, partitions: i32) -> anyhow::Result<bool> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(-1)]);
        let response: CreateTopicsResponse = self.call(ApiKey::CreateTopics, 5, &request)?;
        let Some(result) = response.topics.first() else {
            bail!("CreateTopics answered nothing for {topic}");
        };
        match result.error_code {
            0 => Ok(true),
            TOPIC_ALREADY_EXISTS => Ok(false),
            code => bail!(
                "creating {topic}: error {code} {}",
                result.error_message.as_deref().unwrap_or("")
            ),
        }
    }

    /// The coordinator's view of `group`, counting only partitions of `topic`.
    pub fn describe(
        &mut self,
        protocol: Protocol,
        group: &str,
        topic: &str,
    ) -> anyhow::Result<GroupView> {
        match protocol {
            Protocol::Classic => self.describe_classic(group, topic),
            Protocol::Consumer => self.describe_consumer(group, topic),
        }
    }

    fn describe_classic(&mut self, group: &str, topic: &str) -> anyhow::Result<GroupView> {
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
        let response: DescribeGroupsResponse = self.call(ApiKey::DescribeGroups, 5, &request)?;
        let Some(g) = response.groups.first() else {
            bail!("DescribeGroups answered nothing for {group}");
        };
        if RETRIABLE.contains(&g.error_code) {
            return Ok(not_yet());
        }
        if g.error_code != 0 {
            bail!("describing {group}: error {}", g.error_code);
        }
        let mut members = BTreeMap::new();
        for m in &g.members {
            // The assignment is Kafka's ConsumerProtocolAssignment, sent only while Stable.
            let mut bytes = m.member_assignment.clone();
            let partitions = if bytes.len() < 2 {
                Vec::new()
            } else {
                let version = i16::from_be_bytes([bytes[0], bytes[1]]);
                let _ = bytes::Buf::get_i16(&mut bytes);
                let a = ConsumerProtocolAssignment::decode(&mut bytes, version)?;
                a.assigned_partitions
                    .iter()
                    .filter(|tp| tp.topic.as_str() == topic)
                    .flat_map(|tp| tp.partitions.iter().copied())
                    .collect()
            };
            members.insert(m.client_id.to_string(), sorted(partitions));
        }
        Ok(GroupView {
            settled: g.group_state.as_str() == "Stable",
            state: g.group_state.to_string(),
            // DescribeGroups does not carry the generation; the lesson counts rebalances itself.
            epoch: -1,
            members,
        })
    }

    fn describe_consumer(&mut self, group: &str, topic: &str) -> anyhow::Result<GroupView> {
        let request = ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
        let response: ConsumerGroupDescribeResponse =
            self.call(ApiKey::ConsumerGroupDescribe, 0, &request)?;
        let Some(g) = response.groups.first() else {
            bail!("ConsumerGroupDescribe answered nothing for {group}");
        };
        // GROUP_ID_NOT_FOUND before the first member joined: an empty group.
        if g.error_code == 69 {
            return Ok(GroupView {
                state: "Empty".into(),
                settled: true,
                ..GroupView::default()
            });
        }
        if RETRIABLE.contains(&g.error_code) {
            return Ok(not_yet());
        }
        if g.error_code != 0 {
            bail!("describing {group}: error {}", g.error_code);
        }
        let mut members = BTreeMap::new();
        let mut settled = g.group_state.as_str() == "Stable";
        for m in &g.members {
            let of =
                |a: &gregor_protocol::messages::consumer_group_describe_response::Assignment| {
                    sorted(
                        a.topic_partitions
                            .iter()
                            .filter(|tp| tp.topic_name.as_str() == topic)
                            .flat_map(|tp| tp.partitions.iter().copied())
                            .collect(),
                    )
                };
            let owned = of(&m.assignment);
            settled &= owned == of(&m.target_assignment) && m.member_epoch == g.assignment_epoch;
            members.insert(m.client_id.to_string(), owned);
        }
        Ok(GroupView {
            state: g.group_state.to_string(),
            epoch: g.group_epoch,
            members,
            settled,
        })
    }
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}
