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
}
