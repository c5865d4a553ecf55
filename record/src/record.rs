//! The records inside a v2 batch: iteration, the key, value and headers of each, and the
//! encoding of one record; Kafka's `DefaultRecord` and `DefaultRecordBatch.iterator`.
//!
//! [`records`] reads uncompressed batches only (the broker's own internal logs, and timestamp
//! lookups that skip compressed batches). [`batch_records`] reads any codec, decompressing
//! first: that is for the log cleaner alone, the one part of Gregor that looks inside
//! compressed batches.

use std::borrow::Cow;

use crate::batch::{parse_batch, BatchHeader, TimestampType, HEADER_SIZE};
use crate::compression::decompress;
use crate::error::BatchError;
use crate::varint::{read_varlong, write_varlong};

/// A record's key and value, borrowed (`None` is null).
pub type RecordRef<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
/// A record's key and value, owned.
pub type OwnedRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

const MALFORMED: BatchError = BatchError::Inconsistent("malformed record");

/// One record of a batch. Its prefix is read eagerly, the key, value and headers
/// on demand, so a timestamp lookup reads only what it needs.
///
/// Layout: length varint (bytes after it) | attributes i8 | timestampDelta varlong |
/// offsetDelta varint | keyLength varint | key | valueLength varint | value |
/// headerCount varint | headers (keyLength varint | key | valueLength varint | value). A
/// negative length is null. All varints are zig-zag ([`crate::varint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Unused by Kafka so far (always 0; kept as read when the cleaner rebuilds a batch).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset (as the producer wrote it: not checked against
    /// the batch's `lastOffsetDelta`).
    pub offset_delta: i64,
    /// Key, value and headers, up to the end of the record: copied as they are when the
    /// cleaner rebuilds a batch.
    pub(crate) rest: &'a [u8],
}

/// A length-prefixed byte string at `*pos` within `buf`; `None` for a negative length.
fn bytes_at<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, BatchError> {
    let len = read_varlong(buf, pos).ok_or(MALFORMED)?;
    if len < 0 {
        return Ok(None);
    }
    let stop = usize::try_from(len)
        .ok()
        .and_then(|len| pos.checked_add(len))
        .filter(|stop| *stop <= buf.len())
        .ok_or(MALFORMED)?;
    let bytes = &buf[*pos..stop];
    *pos = stop;
    Ok(Some(bytes))
}

impl<'a> Record<'a> {
    /// The record's timestamp in a batch whose base timestamp is `base_timestamp`; `None` on
    /// overflow (a producer chooses the delta).
    pub fn timestamp(&self, base_timestamp: i64) -> Option<i64> {
        base_timestamp.checked_add(self.timestamp_delta)
    }

    /// The record's timestamp as consumers read it in the batch `header` describes: the
    /// batch's max timestamp under LogAppendTime, else the base timestamp (or delete horizon)
    /// plus the delta, wrapping as Java's `long` arithmetic does (Kafka's
    /// `DefaultRecord.readFrom`).
    pub fn timestamp_in(&self, header: &BatchHeader) -> i64 {
        match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(self.timestamp_delta),
        }
    }

    /// The record's offset in a batch at `base_offset`; `None` on overflow.
    pub fn offset(&self, base_offset: i64) -> Option<i64> {
        base_offset.checked_add(self.offset_delta)
    }

    /// Key and value, after checking the headers are well formed too and nothing follows
    /// them.
    pub fn key_value(&self) -> Result<RecordRef<'a>, BatchError> {
        self.fields(|_, _| ())
    }

    /// The headers, in order: (key, value). A null key reads as empty.
    #[allow(clippy::type_complexity)]
    pub fn headers(&self) -> Result<Vec<(&'a [u8], Option<&'a [u8]>)>, BatchError> {
        let mut out = Vec::new();
        self.fields(|k, v| out.push((k, v)))?;
        Ok(out)
    }

    fn fields(
        &self,
        mut on_header: impl FnMut(&'a [u8], Option<&'a [u8]>),
    ) -> Result<RecordRef<'a>, BatchError> {
        let buf = self.rest;
        let mut pos = 0;
        let key = bytes_at(buf, &mut pos)?;
        let value = bytes_at(buf, &mut pos)?;
        let count = read_varlong(buf, &mut pos).ok_or(MALFORMED)?;
        // Kafka refuses a negative header count ("invalid number of record headers").
        if count < 0 {
            return Err(MALFORMED);
        }
        for _ in 0..count {
            let header_key = bytes_at(buf, &mut pos)?.unwrap_or_default();
            let header_value = bytes_at(buf, &mut pos)?;
            on_header(header_key, header_value);
        }
        // Kafka refuses a record whose fields end before its length says.
        if pos != buf.len() {
            return Err(MALFORMED);
        }
        Ok((key, value))
    }
}

/// The records of one batch, in order: `recordCount` of them, then an error if bytes remain
/// (Kafka's "records still remaining"). After an error the iteration ends.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    /// The records section (decompressed if need be): no record reads past it.
    body: &'a [u8],
    pos: usize,
    remaining: i32,
    /// Whether the end has been checked for leftover bytes (or an error ended the walk).
    done: bool,
}

/// The records of the batch `header` describes at the start of `batch`. Refused for a
/// compressed batch (its records need decompressing, which only the cleaner does, with
/// [`batch_records`]).
pub fn records<'a>(batch: &'a [u8], header: &BatchHeader) -> Result<Records<'a>, BatchError> {
    if header.is_compressed() {
        return Err(BatchError::Inconsistent(
            "compressed batch: its records are not read without decompressing",
        ));
    }
    let body = batch
        .get(HEADER_SIZE..header.size)
        .ok_or(BatchError::Truncated)?;
    Ok(Records::over(body, header))
}

/// The records section of one batch of any codec, ready to iterate: borrowed from the batch
/// when uncompressed, decompressed otherwise. For the log cleaner only (Kafka's
/// `DefaultRecordBatch.streamingIterator`, over a whole decompressed section here).
#[derive(Debug, Clone)]
pub struct BatchRecords<'a> {
    header: BatchHeader,
    /// The records, after the 61-byte header.
    body: Cow<'a, [u8]>,
}

/// The records of the batch `header` describes at the start of `batch`, decompressing them
/// first if the batch is compressed; refused when they would take more than `limit` bytes
/// decompressed (a decompression bomb), or the codec is undefined. The caller has parsed the
/// header ([`crate::batch::parse_header`]); the CRC is its business.
pub fn batch_records<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    limit: usize,
) -> Result<BatchRecords<'a>, BatchError> {
    let section = batch
        .get(HEADER_SIZE..header.size)
        .ok_or(BatchError::Truncated)?;
    let codec = header
        .compression()
        .ok_or(BatchError::Inconsistent("unknown compression codec"))?;
    let body = if header.is_compressed() {
        Cow::Owned(decompress(codec, section, limit)?)
    } else {
        Cow::Borrowed(section)
    };
    Ok(BatchRecords {
        header: *header,
        body,
    })
}

impl BatchRecords<'_> {
    /// The batch's header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The records section, uncompressed.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The records, in order.
    pub fn iter(&self) -> Records<'_> {
        Records::over(&self.body, &self.header)
    }
}

impl<'a> Records<'a> {
    fn over(body: &'a [u8], header: &BatchHeader) -> Records<'a> {
        Records {
            body,
            pos: 0,
            remaining: header.record_count.max(0),
            done: false,
        }
    }

    fn read(&mut self) -> Result<Record<'a>, BatchError> {
        let buf = self.body;
        let length = read_varlong(buf, &mut self.pos).ok_or(MALFORMED)?;
        let start = self.pos;
        let end = usize::try_from(length)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|end| *end <= buf.len())
            .ok_or(MALFORMED)?;
        let body = &buf[start..end];
        let mut pos = 0;
        let attributes = *body.first().ok_or(MALFORMED)? as i8;
        pos += 1;
        let timestamp_delta = read_varlong(body, &mut pos).ok_or(MALFORMED)?;
        let offset_delta = read_varlong(body, &mut pos).ok_or(MALFORMED)?;
        self.pos = end;
        Ok(Record {
            attributes,
            timestamp_delta,
            offset_delta,
            rest: &body[pos..],
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            return (self.pos < self.body.len())
                .then_some(Err(BatchError::Inconsistent("bytes after the last record")));
        }
        self.remaining -= 1;
        let record = self.read();
        if record.is_err() {
            self.done = true;
        }
        Some(record)
    }
}

/// Appends one record with no headers: its length, then the fields as [`Record`] lays them
/// out.
pub fn write_record(
    out: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let mut rest = Vec::new();
    put_bytes(&mut rest, key);
    put_bytes(&mut rest, value);
    write_varlong(&mut rest, 0); // no headers
    write_record_parts(out, 0, timestamp_delta, offset_delta, &rest);
}

/// A length-prefixed byte string; `None` as length -1.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varlong(out, -1),
        Some(b) => {
            write_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Appends a record from its prefix fields and `rest` (key, value and headers, encoded).
pub(crate) fn write_record_parts(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i64,
    rest: &[u8],
) {
    let mut prefix = Vec::with_capacity(21);
    prefix.push(attributes as u8);
    write_varlong(&mut prefix, timestamp_delta);
    write_varlong(&mut prefix, offset_delta);
    write_varlong(out, (prefix.len() + rest.len()) as i64);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(rest);
}

/// The key and value of every record of an uncompressed batch, checked as a produced batch
/// ([`parse_batch`]) first: what the broker reads back from its own internal logs.
pub fn decode_records(batch: &[u8]) -> Result<Vec<OwnedRecord>, BatchError> {
    let header = parse_batch(batch)?;
    if header.is_compressed() {
        return Err(BatchError::Inconsistent(
            "compressed batch in an internal log",
        ));
    }
    records(batch, &header)?
        .map(|record| {
            let (key, value) = record?.key_value()?;
            Ok((key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{parse_header, write_crc, LENGTH, LOG_OVERHEAD};
    use crate::builder::encode_records;
    use proptest::prelude::*;

    #[test]
    fn internal_records_round_trip() {
        let batch = encode_records(5, &[(Some(b"k1"), Some(b"v1")), (Some(b"k2"), None)]);
        assert_eq!(parse_batch(&batch).unwrap().record_count, 2);
        let records = decode_records(&batch).unwrap();
        assert_eq!(
            records,
            vec![
                (Some(b"k1".to_vec()), Some(b"v1".to_vec())),
                (Some(b"k2".to_vec()), None)
            ]
        );
    }

    /// A batch of one record whose body is `body` (length prefix added), CRC fixed.
    fn batch_with_body(body: &[u8]) -> Vec<u8> {
        let mut b = encode_records(0, &[(None, None)]);
        b.truncate(HEADER_SIZE);
        write_varlong(&mut b, body.len() as i64);
        b.extend_from_slice(body);
        let length = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH..LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        write_crc(&mut b);
        b
    }

    #[test]
    fn headers_are_read() {
        let mut body = vec![0u8];
        for v in [3i64, 0, -1, 1] {
            write_varlong(&mut body, v); // ts delta 3, offset delta 0, null key, 1-byte value
        }
        body.push(b'x');
        write_varlong(&mut body, 1);
        write_varlong(&mut body, 1);
        body.push(b'h');
        write_varlong(&mut body, -1);
        let b = batch_with_body(&body);
        let header = parse_header(&b).unwrap();
        let record = records(&b, &header).unwrap().next().unwrap().unwrap();
        assert_eq!(
            (record.timestamp(10), record.offset(5)),
            (Some(13), Some(5))
        );
        assert_eq!(record.key_value().unwrap(), (None, Some(&b"x"[..])));
        assert_eq!(record.headers().unwrap(), vec![(&b"h"[..], None)]);
    }

    #[test]
    fn a_record_longer_than_its_batch_is_refused() {
        let mut b = encode_records(0, &[(None, Some(b"v"))]);
        b[HEADER_SIZE] = 0x7e; // length 63
        write_crc(&mut b);
        let header = parse_header(&b).unwrap();
        let all: Vec<_> = records(&b, &header).unwrap().collect();
        assert_eq!(all, vec![Err(MALFORMED)]);
        assert!(decode_records(&b).is_err());
    }

    #[test]
    fn what_kafka_refuses_is_refused() {
        // Bytes after the headers, inside the record's length.
        let mut body = vec![0u8];
        for v in [0i64, 0, -1, -1, 0] {
            write_varlong(&mut body, v);
        }
        let mut trailing = body.clone();
        trailing.push(0);
        for bad in [trailing, {
            let mut negative = body[..body.len() - 1].to_vec();
            write_varlong(&mut negative, -1); // header count
            negative
        }] {
            let b = batch_with_body(&bad);
            let header = parse_header(&b).unwrap();
            let record = records(&b, &header).unwrap().next().unwrap().unwrap();
            assert_eq!(record.key_value(), Err(MALFORMED));
        }
        // Bytes after the last record the count announces.
        let mut b = encode_records(0, &[(None, Some(b"v"))]);
        b.push(0);
        let length = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH..LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        write_crc(&mut b);
        let header = parse_header(&b).unwrap();
        let all: Vec<_> = records(&b, &header).unwrap().collect();
        assert!(all[0].is_ok());
        assert_eq!(
            all[1],
            Err(BatchError::Inconsistent("bytes after the last record"))
        );
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn compressed_batches_are_read_only_through_batch_records() {
        let plain = encode_records(7, &[(Some(b"k"), Some(b"v")), (None, None)]);
        let mut header = parse_header(&plain).unwrap();
        let packed =
            crate::compression::compress(crate::Compression::Zstd, &plain[HEADER_SIZE..]).unwrap();
        let mut b = plain[..HEADER_SIZE].to_vec();
        b.extend_from_slice(&packed);
        header.size = b.len();
        header.attributes |= 4;
        assert!(records(&b, &header).is_err());
        let section = batch_records(&b, &header, 100).unwrap();
        assert_eq!(section.bytes(), &plain[HEADER_SIZE..]);
        let read: Vec<_> = section
            .iter()
            .map(|r| r.unwrap().key_value().unwrap())
            .collect();
        assert_eq!(read, vec![(Some(&b"k"[..]), Some(&b"v"[..])), (None, None)]);
        assert!(matches!(
            batch_records(&b, &header, 3),
            Err(BatchError::Decompression(_))
        ));
        header.attributes |= 7;
        assert!(batch_records(&b, &header, 100).is_err());
    }

    proptest! {
        #[test]
        fn encoded_records_decode(records in proptest::collection::vec(
            (proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300))), 1..10)) {
            let refs: Vec<RecordRef<'_>> =
                records.iter().map(|(k, v)| (k.as_deref(), v.as_deref())).collect();
            let batch = encode_records(42, &refs);
            prop_assert_eq!(decode_records(&batch).unwrap(), records);
        }

        #[test]
        fn arbitrary_record_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let b = batch_with_body(&body);
            let _ = decode_records(&b);
            if let Ok(header) = parse_header(&b) {
                for record in records(&b, &header).unwrap().flatten() {
                    let _ = record.headers();
                }
            }
        }
    }
}
