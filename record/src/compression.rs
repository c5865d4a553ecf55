//! The batch codecs: decompressing and compressing the records section of a v2 batch; Kafka's
//! `org.apache.kafka.common.compress` (`GzipCompression`, `SnappyCompression`,
//! `Lz4Compression`, `ZstdCompression`).
//!
//! Only the log cleaner calls these: appends and fetches never look inside a batch.
//!
//! The formats, as Apache Kafka's clients and librdkafka write them:
//! - gzip: one or more gzip members (RFC 1952).
//! - snappy: either a raw snappy block (librdkafka) or xerial's framing (the Java client):
//!   `\x82SNAPPY\x00` | version i32 | compatible version i32, then chunks of
//!   `length i32 | raw snappy block`, all big-endian. The magic tells them apart.
//! - lz4: one LZ4 frame (magic `0x184D2204`), independent blocks of at most 64 KiB, no content
//!   size or checksums when Kafka writes it (`Lz4BlockOutputStream`); any frame features on read.
//! - zstd: one or more zstd frames; the content size may be absent (streaming writers).
//!
//! Decompression is bounded: the caller gives the most bytes it accepts, and a stream that
//! would produce more is refused before it is all in memory (a decompression bomb).

use std::io::Read;

use crate::batch::Compression;

/// Why a records section could not be decompressed (or compressed); Kafka's
/// `KafkaException("Failed to decompress record stream")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The bytes are not valid data of the codec.
    #[error("corrupt {codec} data: {why}")]
    Corrupt {
        /// The codec the batch names.
        codec: Compression,
        /// What was wrong, briefly.
        why: &'static str,
    },
    /// The data decompresses to more than the caller accepts.
    #[error("{codec} data decompresses to more than {limit} bytes")]
    TooLarge {
        /// The codec the batch names.
        codec: Compression,
        /// The caller's limit.
        limit: usize,
    },
    /// The codec library failed while compressing.
    #[error("{codec} compression failed")]
    Compress {
        /// The codec asked for.
        codec: Compression,
    },
}

/// xerial's snappy-java stream header magic (`SnappyCodec.MAGIC_HEADER`).
pub const XERIAL_MAGIC: [u8; 8] = *b"\x82SNAPPY\x00";
/// xerial's header: magic, version (1), compatible version (1).
const XERIAL_HEADER_SIZE: usize = 16;
/// xerial's default chunk size (`SnappyOutputStream.DEFAULT_BLOCK_SIZE`, 32 KiB).
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Kafka's default zstd level (`CompressionType.ZSTD.defaultLevel()`).
const ZSTD_LEVEL: i32 = 3;
/// The largest zstd window accepted: zstd's own default limit (128 MiB), which the Java client
/// also applies. A smaller one would refuse legitimate high-level streams; the window is
/// allocated lazily, so at most the bytes actually produced (under the limit) are touched.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// The records section `data` of a batch written with `codec`, decompressed; refused when it
/// would exceed `limit` bytes. `Compression::None` returns the bytes as they are (still within
/// `limit`).
pub fn decompress(
    codec: Compression,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |why| CompressionError::Corrupt { codec, why };
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(CompressionError::TooLarge { codec, limit });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(data),
            limit,
            "bad gzip stream",
        ),
        Compression::Snappy if data.starts_with(&XERIAL_MAGIC) => unsnappy_xerial(data, limit),
        Compression::Snappy => {
            let mut out = Vec::new();
            unsnappy_raw(data, limit, &mut out)?;
            Ok(out)
        }
        Compression::Lz4 => read_bounded(
            codec,
            lz4_flex::frame::FrameDecoder::new(data),
            limit,
            "bad lz4 frame",
        ),
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(data).map_err(|_| corrupt("zstd init"))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|_| corrupt("zstd init"))?;
            read_bounded(codec, decoder, limit, "bad zstd frame")
        }
    }
}

/// Everything `reader` produces, refused past `limit` bytes: reads at most one byte more, so a
/// bomb costs no more memory than the limit.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
    why: &'static str,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| CompressionError::Corrupt { codec, why })?;
    if out.len() > limit {
        return Err(CompressionError::TooLarge { codec, limit });
    }
    Ok(out)
}

/// Appends the raw snappy block `block` to `out`, refusing a total past `limit` before
/// allocating: the block announces its length up front.
fn unsnappy_raw(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let codec = Compression::Snappy;
    let corrupt = |why| CompressionError::Corrupt { codec, why };
    let len = snap::raw::decompress_len(block).map_err(|_| corrupt("bad snappy length"))?;
    if out.len().saturating_add(len) > limit {
        return Err(CompressionError::TooLarge { codec, limit });
    }
    if len == 0 {
        // `snap` refuses an empty input, which is how an empty block may arrive.
        return Ok(());
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|_| corrupt("bad snappy block"))?;
    out.truncate(start + written);
    Ok(())
}

/// xerial framing: the header, then `length i32 | block` chunks. Lenient where snappy-java's
/// `SnappyInputStream` is (a cut length at the end ends the stream; a second header starts a
/// concatenated stream), so what a Java consumer reads is read here too.
fn unsnappy_xerial(data: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |why| CompressionError::Corrupt {
        codec: Compression::Snappy,
        why,
    };
    let mut out = Vec::new();
    let mut rest = data
        .get(XERIAL_HEADER_SIZE..)
        .ok_or(corrupt("cut xerial header"))?;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        if len[..] == XERIAL_MAGIC[..4] {
            // A concatenated stream: its header again.
            let header_tail = &XERIAL_MAGIC[4..];
            if tail.len() < XERIAL_HEADER_SIZE - 4 || !tail.starts_with(header_tail) {
                return Err(corrupt("bad xerial header"));
            }
            rest = &tail[XERIAL_HEADER_SIZE - 4..];
            continue;
        }
        let len =
            usize::try_from(i32::from_be_bytes(*len)).map_err(|_| corrupt("bad xerial chunk"))?;
        let chunk = tail.get(..len).ok_or(corrupt("cut xerial chunk"))?;
        unsnappy_raw(chunk, limit, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// `data` compressed with `codec` as Apache Kafka's Java producer writes it, so Java clients
/// and librdkafka read it back: gzip at the default level, snappy in xerial framing (32 KiB
/// chunks), an LZ4 frame of independent 64 KiB blocks without checksums, zstd at level 3.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    use std::io::Write;
    let failed = |_| CompressionError::Compress { codec };
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_SIZE + data.len() / 2);
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes()); // version
            out.extend_from_slice(&1i32.to_be_bytes()); // compatible version
            let mut encoder = snap::raw::Encoder::new();
            let mut block = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK_SIZE)];
            for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
                let n = encoder
                    .compress(chunk, &mut block)
                    .map_err(|_| CompressionError::Compress { codec })?;
                out.extend_from_slice(&(n as i32).to_be_bytes());
                out.extend_from_slice(&block[..n]);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(
                info,
                Vec::with_capacity(data.len() / 2),
            );
            encoder.write_all(data).map_err(failed)?;
            encoder
                .finish()
                .map_err(|_| CompressionError::Compress { codec })
        }
        Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).map_err(failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Compressible bytes of `len`: short runs of a few symbols.
    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"kafka gregor "[(i / 3) % 13]).collect()
    }

    #[test]
    fn every_codec_round_trips_across_block_boundaries() {
        for codec in ALL {
            for len in [0, 1, 100, XERIAL_BLOCK_SIZE, 64 * 1024 + 1, 300_000] {
                let data = text(len);
                let packed = compress(codec, &data).unwrap();
                assert_eq!(
                    decompress(codec, &packed, len).unwrap(),
                    data,
                    "{codec} {len}"
                );
            }
        }
    }

    #[test]
    fn the_limit_is_exact() {
        for codec in ALL {
            let data = text(10_000);
            let packed = compress(codec, &data).unwrap();
            assert!(decompress(codec, &packed, 10_000).is_ok());
            assert_eq!(
                decompress(codec, &packed, 9_999),
                Err(CompressionError::TooLarge {
                    codec,
                    limit: 9_999
                }),
                "{codec}"
            );
        }
    }

    #[test]
    fn a_bomb_is_refused() {
        // 16 MiB of zeros packs into a few KiB; a 1 MiB limit must stop it early.
        let zeros = vec![0u8; 16 << 20];
        for codec in [
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Snappy,
        ] {
            let packed = compress(codec, &zeros).unwrap();
            assert!(packed.len() < zeros.len() / 10, "{codec}");
            assert!(matches!(
                decompress(codec, &packed, 1 << 20),
                Err(CompressionError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn layouts_are_the_ones_kafka_writes() {
        let snappy = compress(Compression::Snappy, b"abc").unwrap();
        assert_eq!(
            &snappy[..16],
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"
        );
        let lz4 = compress(Compression::Lz4, b"abc").unwrap();
        // Magic, then FLG: version 1, independent blocks, no checksums or content size; BD:
        // 64 KiB blocks. Kafka's Lz4BlockInputStream refuses dependent blocks.
        assert_eq!(&lz4[..6], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
        let gzip = compress(Compression::Gzip, b"abc").unwrap();
        assert_eq!(&gzip[..2], &[0x1f, 0x8b]);
        let zstd = compress(Compression::Zstd, b"abc").unwrap();
        assert_eq!(&zstd[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    }

    #[test]
    fn raw_and_concatenated_snappy_are_read() {
        let data = text(50_000);
        // librdkafka's form: one raw block.
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, data.len()).unwrap(),
            data
        );
        // Two xerial streams back to back read as one.
        let mut two = compress(Compression::Snappy, &data[..20_000]).unwrap();
        two.extend_from_slice(&compress(Compression::Snappy, &data[20_000..]).unwrap());
        assert_eq!(
            decompress(Compression::Snappy, &two, data.len()).unwrap(),
            data
        );
        // A cut xerial chunk is refused; a cut length ends the stream as snappy-java does.
        let one = compress(Compression::Snappy, &data).unwrap();
        assert!(decompress(Compression::Snappy, &one[..one.len() - 1], data.len()).is_err());
        let mut cut_len = compress(Compression::Snappy, b"x").unwrap();
        cut_len.extend_from_slice(&[0, 0]);
        assert_eq!(decompress(Compression::Snappy, &cut_len, 10).unwrap(), b"x");
    }

    #[test]
    fn concatenated_gzip_and_zstd_are_read() {
        for codec in [Compression::Gzip, Compression::Zstd] {
            let mut two = compress(codec, b"first ").unwrap();
            two.extend_from_slice(&compress(codec, b"second").unwrap());
            assert_eq!(
                decompress(codec, &two, 100).unwrap(),
                b"first second",
                "{codec}"
            );
        }
    }

    #[test]
    fn streamed_zstd_without_content_size_is_read() {
        let data = text(200_000);
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let packed = encoder.finish().unwrap();
        assert_eq!(
            decompress(Compression::Zstd, &packed, data.len()).unwrap(),
            data
        );
    }

    proptest! {
        #[test]
        fn round_trips(codec in 0..5i16, data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let codec = Compression::from_id(codec).unwrap();
            let packed = compress(codec, &data).unwrap();
            prop_assert_eq!(decompress(codec, &packed, data.len()).unwrap(), data);
        }

        #[test]
        fn garbage_never_panics_and_the_limit_holds(
            codec in 0..5i16,
            data in proptest::collection::vec(any::<u8>(), 0..300),
            limit in 0..2000usize,
        ) {
            let codec = Compression::from_id(codec).unwrap();
            if let Ok(out) = decompress(codec, &data, limit) {
                prop_assert!(out.len() <= limit);
            }
        }

        #[test]
        fn damaged_streams_never_panic(
            codec in 1..5i16,
            data in proptest::collection::vec(any::<u8>(), 1..2000),
            at in any::<usize>(),
            flip in 1..=255u8,
            cut in any::<usize>(),
        ) {
            let codec = Compression::from_id(codec).unwrap();
            let mut packed = compress(codec, &data).unwrap();
            let pos = at % packed.len();
            packed[pos] ^= flip;
            packed.truncate(packed.len() - cut % packed.len());
            if let Ok(out) = decompress(codec, &packed, data.len()) {
                prop_assert!(out.len() <= data.len());
            }
        }
    }
}
