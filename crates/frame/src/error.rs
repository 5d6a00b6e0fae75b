//! The one error type of this crate.

use crate::FieldType;

/// Everything that can go wrong when building or filling a [`RingFrame`](crate::RingFrame).
///
/// Each variant names the problem and, where there is one, the allowed values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A capacity of zero rows was asked for.
    #[error("capacity must be at least 1 row (got 0)")]
    ZeroCapacity,
    /// A capacity above [`MAX_CAPACITY`](crate::MAX_CAPACITY) was asked for.
    #[error("capacity {got} is above the maximum of {max} rows")]
    CapacityTooLarge {
        /// The capacity asked for.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A field type name that is not one of the four.
    #[error("unknown field type {0:?}: expected one of time, number, string, boolean")]
    UnknownFieldType(String),
    /// An append mode name that is not `tail` or `head`.
    #[error("unknown append mode {0:?}: expected tail or head")]
    UnknownAppendMode(String),
    /// A value whose type does not match its field's type.
    #[error("field {field:?} holds {expected} values, got a {got} value")]
    TypeMismatch {
        /// The field's name.
        field: String,
        /// The field's type.
        expected: FieldType,
        /// The type of the value that was given.
        got: FieldType,
    },
    /// A positional row whose length differs from the number of fields.
    #[error("the row has {got} values but the frame has {expected} fields")]
    RowLength {
        /// Number of fields in the frame.
        expected: usize,
        /// Number of values in the row.
        got: usize,
    },
    /// A row pushed into a frame that has no fields yet (`CircularDataFrame` drops such
    /// rows silently; here it is an error so no data vanishes unnoticed).
    #[error("the frame has no fields: add fields before pushing rows")]
    NoFields,
    /// Adding a field would exceed [`MAX_FIELDS`](crate::MAX_FIELDS).
    #[error("a frame holds at most {max} fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// A frame's `meta.channel` that is not a Grafana Live channel
    /// (`<scope>/<namespace>/<path>`, e.g. `ds/<datasource uid>/<path>`).
    #[error("invalid Grafana Live channel {channel:?}: {reason}")]
    InvalidChannel {
        /// The channel as set on the frame.
        channel: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A string field whose values add up to more bytes than an Arrow `Utf8` column
    /// (32-bit offsets) holds, the column type Grafana's Arrow frames use for strings.
    #[error("string field {field:?} holds {bytes} bytes, above Arrow Utf8's limit of {max}")]
    StringColumnTooLarge {
        /// The field's name.
        field: String,
        /// The total length of its values in bytes.
        bytes: usize,
        /// The limit (`i32::MAX`).
        max: usize,
    },
}
