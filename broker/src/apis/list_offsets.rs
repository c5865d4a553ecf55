//! ListOffsets: offsets by timestamp, and the special timestamps -1 (latest), -2 (earliest),
//! -3 (max timestamp), -4 (earliest local) and -5 (latest tiered), which on a single node without
//! tiered storage are the log start and end.

use std::sync::Arc;

use gregor_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use gregor_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use gregor_protocol::ResponseError;

use crate::broker::Broker;
use crate::error::storage_error_code;

/// Handles a ListOffsets request.
pub fn handle(
    broker: &Arc<Broker>,
    request: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // Leader epochs exist from v4 on; older versions must not carry one.
    let leader_epoch = if version >= 4 { 0 } else { -1 };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let Some(log) = broker.partition_log(topic.name.as_str(), p.partition_index)
                    else {
                        return base
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1)
                            .with_timestamp(-1);
                    };
                    let found = match p.timestamp {
                        -1 | -5 => Ok((-1, log.high_watermark())),
                        -2 | -4 => Ok((-1, log.log_start_offset())),
                        -3 => Ok(log
                            .max_timestamp()
                            .map_or((-1, -1), |m| (m.timestamp, m.offset))),
                        ts => log
                            .offset_for_timestamp(ts)
                            .map(|f| f.map_or((-1, -1), |f| (f.timestamp, f.offset))),
                    };
                    match found {
                        Ok((timestamp, offset)) => base
                            .with_timestamp(timestamp)
                            .with_offset(offset)
                            .with_leader_epoch(leader_epoch),
                        Err(e) => base
                            .with_error_code(storage_error_code(&e).code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
