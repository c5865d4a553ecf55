//! A walk over a request body, before `kafka-protocol` decodes it, that checks every announced
//! array, string and bytes length against the bytes the frame has left.
//!
//! Why: the crate's array decoders call `Vec::with_capacity(count)` with the count as sent, so a
//! 100-byte Metadata request announcing 2^31-1 topics asks the allocator for ~150 GB and the
//! process aborts. Apache Kafka refuses such a request (its readers throw when a count exceeds
//! the bytes left) and closes the connection; so do we, before any allocation.
//!
//! The walk reads nothing into memory: it follows the wire layout of each request version (the
//! shapes below, one per API the broker accepts) and only moves a position. An array is refused
//! when `count * smallest element` exceeds what is left, which no well-formed request can do;
//! every element is then walked in turn, so nested counts are checked at their own position.
//! Anything the walk accepts, the decoder can read without a preallocation larger than a small
//! multiple of the frame. `protocol/tests/preflight_shapes.rs` and the `request` fuzz target hold
//! the shapes to the crate: whenever the crate decodes a body, the walk must accept it and end at the
//! same byte.

use kafka_protocol::messages::ApiKey;

/// The inclusive version range a field is present in.
#[derive(Debug, Clone, Copy)]
struct Versions(i16, i16);

const ALL: Versions = Versions(0, i16::MAX);

// Macros, not `const fn`s, so the shapes below stay promotable to `'static` constants.
macro_rules! from {
    ($v:literal) => {
        Versions($v, i16::MAX)
    };
}

macro_rules! upto {
    ($v:literal) => {
        Versions(0, $v)
    };
}

/// A structure without tagged fields of its own.
macro_rules! st {
    ($($field:expr),* $(,)?) => {
        Ty::Struct(&Layout { fields: &[$($field),*], tags: &[] })
    };
}

impl Versions {
    fn contains(self, version: i16) -> bool {
        version >= self.0 && version <= self.1
    }
}

/// A wire type. Strings, bytes and arrays use their compact (varint) forms in flexible versions.
#[derive(Debug)]
enum Ty {
    Int8,
    Int16,
    Int32,
    Int64,
    Uuid,
    Str,
    Bytes,
    Array(&'static Ty),
    Struct(&'static Layout),
    /// A nullable structure: an int8 marker (1 present, anything else null), then the structure.
    Nullable(&'static Layout),
}

/// A structure: its fields in wire order, and the tagged fields the crate decodes itself (it
/// reads those by their type, not by the size in front of them, so the walk must too).
#[derive(Debug)]
struct Layout {
    fields: &'static [(Versions, Ty)],
    tags: &'static [(u32, Ty)],
}

/// The body layout of one API: its top-level structure and the first flexible version.
#[derive(Debug)]
struct Shape {
    flexible_from: i16,
    body: Layout,
}

const NOT_FLEXIBLE: i16 = i16::MAX;
const BOOL: Ty = Ty::Int8;
const STR_ARRAY: Ty = Ty::Array(&Ty::Str);
const I32_ARRAY: Ty = Ty::Array(&Ty::Int32);

/// An ACL binding filter (DescribeAcls' body, DeleteAcls' filters): resource type, name and
/// pattern type, principal, host, operation, permission type.
const ACL_FILTER: [(Versions, Ty); 7] = [
    (ALL, Ty::Int8),
    (ALL, Ty::Str),
    (from!(1), Ty::Int8),
    (ALL, Ty::Str),
    (ALL, Ty::Str),
    (ALL, Ty::Int8),
    (ALL, Ty::Int8),
];

/// The shape of `api`'s request body, for every API in the broker's table.
fn shape(api: ApiKey) -> Option<&'static Shape> {
    use ApiKey::*;
    use Ty::*;
    Some(match api {
        Produce => &Shape {
            flexible_from: 9,
            body: Layout {
                fields: &[
                    (ALL, Str),   // transactional id
                    (ALL, Int16), // acks
                    (ALL, Int32), // timeout
                    (
                        ALL,
                        Array(&st!(
                            (upto!(12), Str), // name
                            (from!(13), Uuid),
                            (ALL, Array(&st!((ALL, Int32), (ALL, Bytes)))),
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        Fetch => &Shape {
            flexible_from: 12,
            body: Layout {
                fields: &[
                    (upto!(14), Int32), // replica id
                    (ALL, Int32),       // max wait
                    (ALL, Int32),       // min bytes
                    (ALL, Int32),       // max bytes
                    (ALL, Int8),        // isolation level
                    (from!(7), Int32),  // session id
                    (from!(7), Int32),  // session epoch
                    (
                        ALL,
                        Array(&st!(
                            (upto!(12), Str), // topic
                            (from!(13), Uuid),
                            (
                                ALL,
                                Array(&Struct(&Layout {
                                    fields: &[
                                        (ALL, Int32),       // partition
                                        (from!(9), Int32),  // current leader epoch
                                        (ALL, Int64),       // fetch offset
                                        (from!(12), Int32), // last fetched epoch
                                        (from!(5), Int64),  // log start offset
                                        (ALL, Int32),       // partition max bytes
                                    ],
                                    // replica directory id, high watermark
                                    tags: &[(0, Uuid), (1, Int64)],
                                })),
                            ),
                        )),
                    ),
                    (
                        from!(7),
                        Array(&st!(
                            (Versions(7, 12), Str), // forgotten topic
                            (from!(13), Uuid),
                            (from!(7), I32_ARRAY),
                        )),
                    ),
                    (from!(11), Str), // rack id
                ],
                // cluster id, replica state
                tags: &[(0, Str), (1, st!((from!(15), Int32), (from!(15), Int64)))],
            },
        },
        ListOffsets => &Shape {
            flexible_from: 6,
            body: Layout {
                fields: &[
                    (ALL, Int32),     // replica id
                    (from!(2), Int8), // isolation level
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (
                                ALL,
                                Array(&st!((ALL, Int32), (from!(4), Int32), (ALL, Int64))),
                            ),
                        )),
                    ),
                    (from!(10), Int32), // timeout
                ],
                tags: &[],
            },
        },
        Metadata => &Shape {
            flexible_from: 9,
            body: Layout {
                fields: &[
                    (ALL, Array(&st!((from!(10), Uuid), (ALL, Str)))),
                    (from!(4), BOOL),        // allow auto topic creation
                    (Versions(8, 10), BOOL), // include cluster authorized operations
                    (from!(8), BOOL),        // include topic authorized operations
                ],
                tags: &[],
            },
        },
        ApiVersions => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[(from!(3), Str), (from!(3), Str)],
                tags: &[],
            },
        },
        CreateTopics => &Shape {
            flexible_from: 5,
            body: Layout {
                fields: &[
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),   // name
                            (ALL, Int32), // partitions
                            (ALL, Int16), // replication factor
                            (ALL, Array(&st!((ALL, Int32), (ALL, I32_ARRAY)))),
                            (ALL, Array(&st!((ALL, Str), (ALL, Str)))),
                        )),
                    ),
                    (ALL, Int32), // timeout
                    (ALL, BOOL),  // validate only
                ],
                tags: &[],
            },
        },
        DeleteTopics => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[
                    (from!(6), Array(&st!((ALL, Str), (ALL, Uuid)))),
                    (upto!(5), STR_ARRAY),
                    (ALL, Int32), // timeout
                ],
                tags: &[],
            },
        },
        CreatePartitions => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),   // name
                            (ALL, Int32), // count
                            (ALL, Array(&st!((ALL, I32_ARRAY)))),
                        )),
                    ),
                    (ALL, Int32), // timeout
                    (ALL, BOOL),  // validate only
                ],
                tags: &[],
            },
        },
        InitProducerId => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[
                    (ALL, Str),        // transactional id
                    (ALL, Int32),      // transaction timeout
                    (from!(3), Int64), // producer id
                    (from!(3), Int16), // producer epoch
                ],
                tags: &[],
            },
        },
        AddPartitionsToTxn => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[
                    (
                        from!(4),
                        Array(&st!(
                            (ALL, Str),   // transactional id
                            (ALL, Int64), // producer id
                            (ALL, Int16), // producer epoch
                            (ALL, BOOL),  // verify only
                            (ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                        )),
                    ),
                    (upto!(3), Str),   // transactional id
                    (upto!(3), Int64), // producer id
                    (upto!(3), Int16), // producer epoch
                    (upto!(3), Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                ],
                tags: &[],
            },
        },
        AddOffsetsToTxn => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[(ALL, Str), (ALL, Int64), (ALL, Int16), (ALL, Str)],
                tags: &[],
            },
        },
        EndTxn => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[(ALL, Str), (ALL, Int64), (ALL, Int16), (ALL, BOOL)],
                tags: &[],
            },
        },
        TxnOffsetCommit => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[
                    (ALL, Str),        // transactional id
                    (ALL, Str),        // group id
                    (ALL, Int64),      // producer id
                    (ALL, Int16),      // producer epoch
                    (from!(3), Int32), // generation id
                    (from!(3), Str),   // member id
                    (from!(3), Str),   // group instance id
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (
                                ALL,
                                Array(&st!(
                                    (ALL, Int32),      // partition
                                    (ALL, Int64),      // offset
                                    (from!(2), Int32), // leader epoch
                                    (ALL, Str),        // metadata
                                )),
                            ),
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        DescribeTransactions => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(ALL, STR_ARRAY)],
                tags: &[],
            },
        },
        ListTransactions => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    (ALL, STR_ARRAY),
                    (ALL, Array(&Int64)),
                    (from!(1), Int64), // duration filter
                    (from!(2), Str),   // transactional id pattern
                ],
                tags: &[],
            },
        },
        DescribeCluster => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(ALL, BOOL), (from!(1), Int8), (from!(2), BOOL)],
                tags: &[],
            },
        },
        DescribeConfigs => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[
                    (ALL, Array(&st!((ALL, Int8), (ALL, Str), (ALL, STR_ARRAY)))),
                    (ALL, BOOL),      // include synonyms
                    (from!(3), BOOL), // include documentation
                ],
                tags: &[],
            },
        },
        AlterConfigs => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Int8), // resource type
                            (ALL, Str),  // resource name
                            (ALL, Array(&st!((ALL, Str), (ALL, Str)))),
                        )),
                    ),
                    (ALL, BOOL), // validate only
                ],
                tags: &[],
            },
        },
        IncrementalAlterConfigs => &Shape {
            flexible_from: 1,
            body: Layout {
                fields: &[
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Int8), // resource type
                            (ALL, Str),  // resource name
                            // name, operation, value
                            (ALL, Array(&st!((ALL, Str), (ALL, Int8), (ALL, Str)))),
                        )),
                    ),
                    (ALL, BOOL), // validate only
                ],
                tags: &[],
            },
        },
        FindCoordinator => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[(upto!(3), Str), (from!(1), Int8), (from!(4), STR_ARRAY)],
                tags: &[],
            },
        },
        JoinGroup => &Shape {
            flexible_from: 6,
            body: Layout {
                fields: &[
                    (ALL, Str),        // group id
                    (ALL, Int32),      // session timeout
                    (from!(1), Int32), // rebalance timeout
                    (ALL, Str),        // member id
                    (from!(5), Str),   // group instance id
                    (ALL, Str),        // protocol type
                    (ALL, Array(&st!((ALL, Str), (ALL, Bytes)))),
                    (from!(8), Str), // reason
                ],
                tags: &[],
            },
        },
        SyncGroup => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[
                    (ALL, Str),      // group id
                    (ALL, Int32),    // generation
                    (ALL, Str),      // member id
                    (from!(3), Str), // group instance id
                    (from!(5), Str), // protocol type
                    (from!(5), Str), // protocol name
                    (ALL, Array(&st!((ALL, Str), (ALL, Bytes)))),
                ],
                tags: &[],
            },
        },
        Heartbeat => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[(ALL, Str), (ALL, Int32), (ALL, Str), (from!(3), Str)],
                tags: &[],
            },
        },
        LeaveGroup => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[
                    (ALL, Str),      // group id
                    (upto!(2), Str), // member id
                    (
                        from!(3),
                        Array(&st!((ALL, Str), (ALL, Str), (from!(5), Str))),
                    ),
                ],
                tags: &[],
            },
        },
        OffsetCommit => &Shape {
            flexible_from: 8,
            body: Layout {
                fields: &[
                    (ALL, Str),        // group id
                    (ALL, Int32),      // generation or member epoch
                    (ALL, Str),        // member id
                    (from!(7), Str),   // group instance id
                    (upto!(4), Int64), // retention time
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (
                                ALL,
                                Array(&st!(
                                    (ALL, Int32),      // partition
                                    (ALL, Int64),      // offset
                                    (from!(6), Int32), // leader epoch
                                    (ALL, Str),        // metadata
                                )),
                            ),
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        OffsetFetch => &Shape {
            flexible_from: 6,
            body: Layout {
                fields: &[
                    (upto!(7), Str), // group id
                    (upto!(7), Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                    (
                        from!(8),
                        Array(&st!(
                            (ALL, Str),        // group id
                            (from!(9), Str),   // member id
                            (from!(9), Int32), // member epoch
                            (ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                        )),
                    ),
                    (from!(7), BOOL), // require stable
                ],
                tags: &[],
            },
        },
        DescribeGroups => &Shape {
            flexible_from: 5,
            body: Layout {
                fields: &[(ALL, STR_ARRAY), (from!(3), BOOL)],
                tags: &[],
            },
        },
        ListGroups => &Shape {
            flexible_from: 3,
            body: Layout {
                fields: &[(from!(4), STR_ARRAY), (from!(5), STR_ARRAY)],
                tags: &[],
            },
        },
        DeleteGroups => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[(ALL, STR_ARRAY)],
                tags: &[],
            },
        },
        OffsetDelete => &Shape {
            flexible_from: NOT_FLEXIBLE,
            body: Layout {
                fields: &[
                    (ALL, Str),
                    (
                        ALL,
                        Array(&st!((ALL, Str), (ALL, Array(&st!((ALL, Int32)))))),
                    ),
                ],
                tags: &[],
            },
        },
        ConsumerGroupHeartbeat => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    (ALL, Str),   // group id
                    (ALL, Str),   // member id
                    (ALL, Int32), // member epoch
                    (ALL, Str),   // instance id
                    (ALL, Str),   // rack id
                    (ALL, Int32), // rebalance timeout
                    (ALL, STR_ARRAY),
                    (from!(1), Str), // subscribed topic regex
                    (ALL, Str),      // server assignor
                    (ALL, Array(&st!((ALL, Uuid), (ALL, I32_ARRAY)))),
                ],
                tags: &[],
            },
        },
        ConsumerGroupDescribe => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(ALL, STR_ARRAY), (ALL, BOOL)],
                tags: &[],
            },
        },
        DeleteRecords => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (ALL, Array(&st!((ALL, Int32), (ALL, Int64))))
                        )),
                    ),
                    (ALL, Int32), // timeout
                ],
                tags: &[],
            },
        },
        OffsetForLeaderEpoch => &Shape {
            flexible_from: 4,
            body: Layout {
                fields: &[
                    (from!(3), Int32), // replica id
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str), // topic
                            (
                                ALL,
                                Array(&st!(
                                    (ALL, Int32),      // partition
                                    (from!(2), Int32), // current leader epoch
                                    (ALL, Int32),      // leader epoch
                                )),
                            ),
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        DescribeAcls => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &ACL_FILTER,
                tags: &[],
            },
        },
        CreateAcls => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[(
                    ALL,
                    Array(&st!(
                        (ALL, Int8),      // resource type
                        (ALL, Str),       // resource name
                        (from!(1), Int8), // pattern type
                        (ALL, Str),       // principal
                        (ALL, Str),       // host
                        (ALL, Int8),      // operation
                        (ALL, Int8),      // permission type
                    )),
                )],
                tags: &[],
            },
        },
        DeleteAcls => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[(
                    ALL,
                    Array(&Struct(&Layout {
                        fields: &ACL_FILTER,
                        tags: &[],
                    })),
                )],
                tags: &[],
            },
        },
        DescribeLogDirs => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[(ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY))))],
                tags: &[],
            },
        },
        ElectLeaders => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[
                    (from!(1), Int8), // election type
                    (ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                    (ALL, Int32), // timeout
                ],
                tags: &[],
            },
        },
        AlterPartitionReassignments => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    (ALL, Int32),     // timeout
                    (from!(1), BOOL), // allow replication factor change
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (ALL, Array(&st!((ALL, Int32), (ALL, I32_ARRAY)))),
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        ListPartitionReassignments => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    (ALL, Int32), // timeout
                    (ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY)))),
                ],
                tags: &[],
            },
        },
        DescribeClientQuotas => &Shape {
            flexible_from: 1,
            body: Layout {
                fields: &[
                    // entity type, match type, match
                    (ALL, Array(&st!((ALL, Str), (ALL, Int8), (ALL, Str)))),
                    (ALL, BOOL), // strict
                ],
                tags: &[],
            },
        },
        SaslHandshake => &Shape {
            flexible_from: NOT_FLEXIBLE,
            body: Layout {
                fields: &[(ALL, Str)], // mechanism
                tags: &[],
            },
        },
        SaslAuthenticate => &Shape {
            flexible_from: 2,
            body: Layout {
                fields: &[(ALL, Bytes)], // auth bytes
                tags: &[],
            },
        },
        AlterUserScramCredentials => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    // deletions: name, mechanism
                    (ALL, Array(&st!((ALL, Str), (ALL, Int8)))),
                    // upsertions: name, mechanism, iterations, salt, salted password
                    (
                        ALL,
                        Array(&st!(
                            (ALL, Str),
                            (ALL, Int8),
                            (ALL, Int32),
                            (ALL, Bytes),
                            (ALL, Bytes)
                        )),
                    ),
                ],
                tags: &[],
            },
        },
        DescribeUserScramCredentials => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(ALL, Array(&st!((ALL, Str))))],
                tags: &[],
            },
        },
        DescribeQuorum => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(
                    ALL,
                    Array(&st!((ALL, Str), (ALL, Array(&st!((ALL, Int32)))))),
                )],
                tags: &[],
            },
        },
        DescribeProducers => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[(ALL, Array(&st!((ALL, Str), (ALL, I32_ARRAY))))],
                tags: &[],
            },
        },
        DescribeTopicPartitions => &Shape {
            flexible_from: 0,
            body: Layout {
                fields: &[
                    (ALL, Array(&st!((ALL, Str)))),
                    (ALL, Int32), // response partition limit
                    (
                        ALL,
                        Nullable(&Layout {
                            // cursor: topic name, partition index
                            fields: &[(ALL, Str), (ALL, Int32)],
                            tags: &[],
                        }),
                    ),
                ],
                tags: &[],
            },
        },
        _ => return None,
    })
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// A length or count announces more than the frame holds.
    #[error("{what} of {announced} announced with {left} bytes left")]
    BeyondFrame {
        what: &'static str,
        announced: u64,
        left: usize,
    },
    /// A length below -1.
    #[error("negative {what} length {len}")]
    Negative { what: &'static str, len: i64 },
    /// The body ends inside a fixed-size field.
    #[error("body ends inside a field")]
    Truncated,
    /// An API without a shape (not one the broker accepts).
    #[error("no request shape for API key {0}")]
    UnknownApi(i16),
}

/// Checks the request body `body` of `api` at `version`. On success returns how many bytes the
/// body takes (the decoder ignores anything after it).
pub fn check_body(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, PreflightError> {
    let shape = shape(api).ok_or(PreflightError::UnknownApi(api as i16))?;
    let mut walk = Walk {
        buf: body,
        pos: 0,
        version,
        flexible: version >= shape.flexible_from,
    };
    walk.structure(&shape.body)?;
    Ok(walk.pos)
}

/// Whether `api` has a shape; every API the broker accepts must have one.
pub fn has_shape(api: ApiKey) -> bool {
    shape(api).is_some()
}

struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    flexible: bool,
}

impl Walk<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, n: usize) -> Result<(), PreflightError> {
        if n > self.left() {
            return Err(PreflightError::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], PreflightError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or(PreflightError::Truncated)?;
        self.pos += N;
        Ok(bytes.try_into().expect("N bytes"))
    }

    /// Kafka's unsigned varint exactly as the crate reads it: at most five bytes, stopping at
    /// the first without the high bit, bits past 32 dropped.
    fn uvarint(&mut self) -> Result<u32, PreflightError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [b] = self.fixed::<1>()?;
            value |= u32::from(b & 0x7f).wrapping_shl(i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    /// A length prefix: `None` for null, else the announced length, checked against the bytes
    /// left at `unit` bytes per item. Outside flexible versions strings carry an i16 length,
    /// bytes and arrays an i32.
    fn length(&mut self, what: &'static str, unit: usize) -> Result<Option<usize>, PreflightError> {
        let len: i64 = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else if what == "string" {
            i64::from(i16::from_be_bytes(self.fixed()?))
        } else {
            i64::from(i32::from_be_bytes(self.fixed()?))
        };
        if len == -1 {
            return Ok(None);
        }
        if len < -1 {
            return Err(PreflightError::Negative { what, len });
        }
        let left = self.left();
        if (len as u64).saturating_mul(unit.max(1) as u64) > left as u64 {
            return Err(PreflightError::BeyondFrame {
                what,
                announced: len as u64,
                left,
            });
        }
        Ok(Some(len as usize))
    }

    fn value(&mut self, ty: &Ty) -> Result<(), PreflightError> {
        match ty {
            Ty::Int8 => self.skip(1),
            Ty::Int16 => self.skip(2),
            Ty::Int32 => self.skip(4),
            Ty::Int64 => self.skip(8),
            Ty::Uuid => self.skip(16),
            Ty::Str => {
                let len = self.length("string", 1)?.unwrap_or(0);
                self.skip(len)
            }
            Ty::Bytes => {
                let len = self.length("bytes", 1)?.unwrap_or(0);
                self.skip(len)
            }
            Ty::Array(element) => {
                let unit = self.min_size(element);
                let count = self.length("array", unit)?.unwrap_or(0);
                for _ in 0..count {
                    self.value(element)?;
                }
                Ok(())
            }
            Ty::Struct(s) => self.structure(s),
            Ty::Nullable(s) => {
                let [present] = self.fixed::<1>()?;
                if present == 1 {
                    self.structure(s)?;
                }
                Ok(())
            }
        }
    }

    fn structure(&mut self, s: &Layout) -> Result<(), PreflightError> {
        for (versions, ty) in s.fields {
            if versions.contains(self.version) {
                self.value(ty)?;
            }
        }
        if self.flexible {
            let tags = self.uvarint()?;
            for _ in 0..tags {
                let tag = self.uvarint()?;
                let size = self.uvarint()? as usize;
                match s.tags.iter().find(|(t, _)| *t == tag) {
                    Some((_, ty)) => self.value(ty)?,
                    None => {
                        if size > self.left() {
                            return Err(PreflightError::BeyondFrame {
                                what: "tagged field",
                                announced: size as u64,
                                left: self.left(),
                            });
                        }
                        self.skip(size)?
                    }
                }
            }
        }
        Ok(())
    }

    /// The fewest bytes a value of `ty` takes on the wire at this version.
    fn min_size(&self, ty: &Ty) -> usize {
        match ty {
            Ty::Int8 | Ty::Nullable(_) => 1,
            Ty::Int16 => 2,
            Ty::Int32 => 4,
            Ty::Int64 => 8,
            Ty::Uuid => 16,
            Ty::Str if self.flexible => 1,
            Ty::Str => 2,
            Ty::Bytes | Ty::Array(_) if self.flexible => 1,
            Ty::Bytes | Ty::Array(_) => 4,
            Ty::Struct(s) => {
                s.fields
                    .iter()
                    .filter(|(v, _)| v.contains(self.version))
                    .map(|(_, ty)| self.min_size(ty))
                    .sum::<usize>()
                    + usize::from(self.flexible)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_counts_are_refused_before_decoding() {
        // Metadata v4 (i32 count) and v12 (varint count 2^32 - 1).
        let err =
            check_body(ApiKey::Metadata, 4, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(err, PreflightError::BeyondFrame { what: "array", .. }),
            "{err}"
        );
        let err = check_body(ApiKey::Metadata, 12, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0]).unwrap_err();
        assert!(
            matches!(err, PreflightError::BeyondFrame { what: "array", .. }),
            "{err}"
        );
        // A nested count: Produce v3, one topic whose partition array claims 2^31 - 1 entries.
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id
        body.extend_from_slice(&1i16.to_be_bytes()); // acks
        body.extend_from_slice(&1000i32.to_be_bytes()); // timeout
        body.extend_from_slice(&1i32.to_be_bytes()); // one topic
        body.extend_from_slice(&1i16.to_be_bytes());
        body.push(b't');
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        body.resize(100, 0);
        let err = check_body(ApiKey::Produce, 3, &body).unwrap_err();
        assert!(
            matches!(err, PreflightError::BeyondFrame { what: "array", .. }),
            "{err}"
        );
        // Three strings need at least six bytes (three empty ones).
        let err = check_body(ApiKey::DescribeGroups, 0, &[0, 0, 0, 3, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(matches!(
            err,
            PreflightError::BeyondFrame {
                what: "array",
                announced: 3,
                left: 5
            }
        ));
        assert_eq!(
            check_body(ApiKey::DescribeGroups, 0, &[0, 0, 0, 3, 0, 0, 0, 0, 0, 0]),
            Ok(10)
        );
        // Heartbeat v0 ending before its generation id.
        assert_eq!(
            check_body(ApiKey::Heartbeat, 0, &[0, 0, 0, 0]),
            Err(PreflightError::Truncated)
        );
        let err = check_body(ApiKey::Heartbeat, 0, &[0, 9, b'g']).unwrap_err();
        assert!(matches!(
            err,
            PreflightError::BeyondFrame { what: "string", .. }
        ));
    }
}
