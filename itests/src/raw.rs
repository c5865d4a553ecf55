//! A bare Kafka client over one TCP socket, for what the real clients hide: hand-made requests,
//! topic ids, duplicated requests, and bytes no client would send.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use gregor_protocol::StrBytes;

/// Re-exported so tests can build request bodies.
pub use gregor_protocol::messages;

/// One connection speaking length-prefixed Kafka frames.
pub struct RawClient {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl RawClient {
    /// Connects to `addr` with a read timeout.
    pub fn connect(addr: &str) -> anyhow::Result<RawClient> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            next_correlation_id: 1,
        })
    }

    /// How long a read waits for a response (10 s unless set).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Writes raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes a request frame (size, header, body).
    pub fn frame<T: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &T,
    ) -> anyhow::Result<Vec<u8>> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("gregor-itests")))
            .encode(&mut buf, key.request_header_version(version))?;
        body.encode(&mut buf, version)?;
        let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        Ok(frame)
    }

    /// Sends a request and reads its response.
    pub fn call<T: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &T,
    ) -> anyhow::Result<R> {
        let frame = self.frame(key, version, body)?;
        self.send_bytes(&frame)?;
        self.read_response(key, version)
    }

    /// Reads one response frame for `key` at `version`.
    pub fn read_response<R: Decodable>(&mut self, key: ApiKey, version: i16) -> anyhow::Result<R> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        if !(0..=64 << 20).contains(&size) {
            bail!("response size {size}");
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body)?;
        let mut buf = bytes::Bytes::from(body);
        let header_version = if key == ApiKey::ApiVersions {
            0
        } else {
            key.response_header_version(version)
        };
        ResponseHeader::decode(&mut buf, header_version)?;
        R::decode(&mut buf, version)
    }

    /// Reads one response frame and returns its correlation id (the first 4 bytes of every
    /// response header version) and the rest of the frame, undecoded.
    pub fn read_raw_response(&mut self) -> anyhow::Result<(i32, Vec<u8>)> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        if !(4..=64 << 20).contains(&size) {
            bail!("response size {size}");
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body)?;
        let correlation_id = i32::from_be_bytes(body[..4].try_into()?);
        Ok((correlation_id, body.split_off(4)))
    }

    /// Whether the broker closed the connection (EOF or reset) within the read timeout.
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
        }
    }

    /// Produces `batch` (whole v2 batches) to partition 0 of `topic` with Produce v9; returns
    /// the partition's (error code, base offset).
    pub fn produce(
        &mut self,
        topic: &str,
        acks: i16,
        batch: Vec<u8>,
    ) -> anyhow::Result<(i16, i64)> {
        use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use gregor_protocol::messages::{ProduceRequest, ProduceResponse};
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(StrBytes::from_string(topic.to_string()).into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.into()))])]);
        let response: ProduceResponse = self.call(ApiKey::Produce, 9, &request)?;
        let partition = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .context("a Produce response without the partition")?;
        Ok((partition.error_code, partition.base_offset))
    }

    /// CreateTopics v7 for one topic of `partitions` with these config overrides; returns the
    /// topic's (error code, error message or "").
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> anyhow::Result<(i16, String)> {
        use gregor_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        use gregor_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
        let text = |v: &str| StrBytes::from_string(v.to_string());
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(text(k))
                    .with_value(Some(text(v)))
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(text(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(configs)]);
        let response: CreateTopicsResponse = self.call(ApiKey::CreateTopics, 7, &request)?;
        let topic = response
            .topics
            .first()
            .context("a CreateTopics response without the topic")?;
        let message = topic.error_message.as_ref().map(|m| m.to_string());
        Ok((topic.error_code, message.unwrap_or_default()))
    }

    /// IncrementalAlterConfigs v1 setting these config keys of `topic`; returns the topic's
    /// (error code, error message or "").
    pub fn alter_topic_config(
        &mut self,
        topic: &str,
        configs: &[(&str, &str)],
    ) -> anyhow::Result<(i16, String)> {
        use gregor_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        use gregor_protocol::messages::{
            IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
        };
        /// Resource type TOPIC and operation SET, as the request numbers them.
        const TOPIC: i8 = 2;
        const SET: i8 = 0;
        let text = |v: &str| StrBytes::from_string(v.to_string());
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(text(topic))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(text(k))
                                .with_config_operation(SET)
                                .with_value(Some(text(v)))
                        })
                        .collect(),
                ),
        ]);
        let response: IncrementalAlterConfigsResponse =
            self.call(ApiKey::IncrementalAlterConfigs, 1, &request)?;
        let resource = response
            .responses
            .first()
            .context("an IncrementalAlterConfigs response without the topic")?;
        let message = resource.error_message.as_ref().map(|m| m.to_string());
        Ok((resource.error_code, message.unwrap_or_default()))
    }

    /// ListOffsets v7 for partition 0 of `topic` at `timestamp` (-1 latest, -2 earliest, -3
    /// max timestamp); returns the partition's (error code, timestamp, offset).
    pub fn list_offset(&mut self, topic: &str, timestamp: i64) -> anyhow::Result<(i16, i64, i64)> {
        use gregor_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use gregor_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(StrBytes::from_string(topic.to_string()).into())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp)])]);
        let response: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 7, &request)?;
        let partition = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .context("a ListOffsets response without the partition")?;
        Ok((partition.error_code, partition.timestamp, partition.offset))
    }

    /// Waits until `topic` is ready for requests to its partitions: Metadata lists it with
    /// every partition led, and ListOffsets answers for each (Apache Kafka's broker learns of a
    /// new topic from its controller a moment after CreateTopics answers, and becomes the
    /// partitions' leader a moment after Metadata shows it, answering NOT_LEADER_OR_FOLLOWER
    /// meanwhile).
    pub fn wait_for_topic(&mut self, topic: &str) -> anyhow::Result<()> {
        use gregor_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
        use gregor_protocol::messages::{
            ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
        };
        let name = || StrBytes::from_string(topic.to_string());
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name().into()))
            ]))
            .with_allow_auto_topic_creation(false);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response: MetadataResponse = self.call(ApiKey::Metadata, 12, &request)?;
            let led = response.topics.first().filter(|t| {
                t.error_code == 0
                    && !t.partitions.is_empty()
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
            });
            if let Some(t) = led {
                let offsets = ListOffsetsRequest::default()
                    .with_replica_id((-1).into())
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(name().into())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )]);
                let answered: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 7, &offsets)?;
                if answered
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .all(|p| p.error_code == 0)
                {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                bail!("topic {topic} never became ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the writing half, as a client that stops mid-frame does.
    pub fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }
}
