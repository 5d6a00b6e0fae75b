//! The one error type of this crate.

use ringstream_frame::FrameError;

/// Everything the harness reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Input that is not the JSON the command reads.
    #[error("invalid input JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The frame refused an operation.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A script step that cannot be carried out.
    #[error("{0}")]
    Script(String),
    /// Text that is not a DataFrameJSON message (see [`crate::wire`]).
    #[error("invalid DataFrameJSON message: {0}")]
    Decode(#[source] serde_json::Error),
    /// A message `StreamingDataFrame.push` throws on; carries the exception's message
    /// verbatim (e.g. `push message mismatch.  Expected: 2, received: 3 (labels=false)`).
    #[error("StreamingDataFrame.push throws: {0}")]
    Push(String),
    /// A message the library accepts but [`crate::live::LiveFrame`] does not model.
    #[error("not modelled: {0}")]
    Unsupported(String),
}
