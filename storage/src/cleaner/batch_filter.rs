//! Reading the records of a batch and writing a batch again with some of them left out: the
//! one place outside the produce path's header checks where the broker looks inside batches.
//! Kafka's `MemoryRecords.filterTo` with `buildRetainedRecordsInto` and
//! `DefaultRecordBatch.writeEmptyHeader`.
//!
//! A rebuilt batch keeps the original's base offset and last offset delta (so a producer's
//! sequence range and the offsets of the kept records stay), its producer id, epoch and base
//! sequence, its leader epoch, codec, timestamp type and transactional and control bits; each
//! kept record keeps its offset delta, timestamp, key, value, headers and attributes.

use std::borrow::Cow;

use gregor_record::batch::{
    write_crc, BatchHeader, HEADER_SIZE, LOG_APPEND_TIME_FLAG, LOG_OVERHEAD, MAGIC_V2,
};
use gregor_record::varint::{read_varlong, write_varlong};
use gregor_record::Compression;

/// Attributes bit 6: the batch's base timestamp is its delete horizon (KIP-534): tombstones in
/// it may go once the horizon has passed.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

/// Why a batch could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The records do not parse.
    #[error("malformed records in a batch at offset {0}")]
    Malformed(i64),
    /// The codec is one the cleaner cannot handle.
    #[error("batch at offset {offset}: {cause}")]
    Codec { offset: i64, cause: String },
}

/// One record of a batch, borrowed from its (decompressed) records.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
    /// Unused by Kafka so far; kept as written.
    pub attributes: i8,
    /// The key, `None` when null.
    pub key: Option<&'a [u8]>,
    /// Whether the value is null (a tombstone).
    pub is_tombstone: bool,
    /// The record's bytes after its offset delta: key, value and headers, as written.
    rest: &'a [u8],
}

/// The delete horizon a batch carries, if any.
pub fn delete_horizon(header: &BatchHeader) -> Option<i64> {
    (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp)
}

/// The records section of `batch` (after its 61-byte header), decompressed if need be.
pub fn records_section<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
) -> Result<Cow<'a, [u8]>, FilterError> {
    let body = batch
        .get(HEADER_SIZE..header.size)
        .ok_or(FilterError::Malformed(header.base_offset))?;
    match header.compression() {
        Some(Compression::None) => Ok(Cow::Borrowed(body)),
        Some(codec) => crate::cleaner::codec::decompress(codec, body)
            .map(Cow::Owned)
            .map_err(|cause| FilterError::Codec {
                offset: header.base_offset,
                cause,
            }),
        None => Err(FilterError::Codec {
            offset: header.base_offset,
            cause: format!("unknown codec {}", header.compression_id()),
        }),
    }
}

/// The records of a batch from its records section.
pub fn parse_records<'a>(
    section: &'a [u8],
    header: &BatchHeader,
) -> Result<Vec<RawRecord<'a>>, FilterError> {
    let malformed = FilterError::Malformed(header.base_offset);
    let mut out = Vec::with_capacity(header.record_count.max(0) as usize);
    let mut pos = 0;
    for _ in 0..header.record_count.max(0) {
        let len = read_varlong(section, &mut pos).ok_or(malformed.clone())?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|end| *end <= section.len())
            .ok_or(malformed.clone())?;
        let body = &section[pos..end];
        pos = end;
        let attributes = *body.first().ok_or(malformed.clone())? as i8;
        let mut at = 1;
        let timestamp_delta = read_varlong(body, &mut at).ok_or(malformed.clone())?;
        let offset_delta = read_varlong(body, &mut at).ok_or(malformed.clone())?;
        let rest = &body[at..];
        let mut field = 0;
        let key = bytes_at(rest, &mut field).ok_or(malformed.clone())?;
        let value_len = read_varlong(rest, &mut field).ok_or(malformed.clone())?;
        out.push(RawRecord {
            offset: header.base_offset.wrapping_add(offset_delta),
            timestamp: header.base_timestamp.wrapping_add(timestamp_delta),
            attributes,
            key,
            is_tombstone: value_len < 0,
            rest,
        });
    }
    Ok(out)
}

fn bytes_at<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = read_varlong(buf, pos)?;
    if len < 0 {
        return Some(None);
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let bytes = buf.get(*pos..end)?;
    *pos = end;
    Some(Some(bytes))
}

/// `original` again with only `kept` (records of it, in order, at least one), recompressed
/// with its codec; with `delete_horizon_ms` the batch carries that horizon.
pub fn rebuild(
    batch: &[u8],
    original: &BatchHeader,
    kept: &[RawRecord<'_>],
    delete_horizon_ms: Option<i64>,
) -> Result<Vec<u8>, FilterError> {
    let base_timestamp = delete_horizon_ms
        .or_else(|| kept.first().map(|r| r.timestamp))
        .unwrap_or(original.max_timestamp);
    let mut records = Vec::new();
    for record in kept {
        let mut body = Vec::with_capacity(record.rest.len() + 20);
        body.push(record.attributes as u8);
        write_varlong(&mut body, record.timestamp.wrapping_sub(base_timestamp));
        write_varlong(&mut body, record.offset.wrapping_sub(original.base_offset));
        body.extend_from_slice(record.rest);
        write_varlong(&mut records, body.len() as i64);
        records.extend_from_slice(&body);
    }
    let records = match original.compression() {
        Some(Compression::None) | None => records,
        Some(codec) => crate::cleaner::codec::compress(codec, &records).map_err(|cause| {
            FilterError::Codec {
                offset: original.base_offset,
                cause,
            }
        })?,
    };
    let max_timestamp = if original.attributes & LOG_APPEND_TIME_FLAG != 0 {
        original.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(original.max_timestamp)
    };
    let mut attributes = original.attributes & !DELETE_HORIZON_FLAG;
    if delete_horizon_ms.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    Ok(write_batch(
        batch,
        original,
        attributes,
        base_timestamp,
        max_timestamp,
        kept.len() as i32,
        &records,
    ))
}

/// The empty batch Kafka leaves when every record of a producer's newest batch is removed: the
/// header alone, with the same offsets and producer fields, so the producer's sequence state
/// survives.
pub fn empty_batch(batch: &[u8], original: &BatchHeader) -> Vec<u8> {
    let keep = gregor_record::batch::LOG_APPEND_TIME_FLAG
        | gregor_record::batch::TRANSACTIONAL_FLAG
        | gregor_record::batch::CONTROL_FLAG;
    write_batch(
        batch,
        original,
        original.attributes & keep,
        original.max_timestamp,
        original.max_timestamp,
        0,
        &[],
    )
}

fn write_batch(
    batch: &[u8],
    original: &BatchHeader,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    records: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + records.len());
    out.extend_from_slice(&original.base_offset.to_be_bytes());
    out.extend_from_slice(&((HEADER_SIZE - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    out.extend_from_slice(&original.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&original.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&max_timestamp.to_be_bytes());
    // Producer id, epoch and base sequence as the original wrote them.
    out.extend_from_slice(
        &batch[gregor_record::batch::PRODUCER_ID..gregor_record::batch::RECORD_COUNT],
    );
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(records);
    write_crc(&mut out);
    out
}
