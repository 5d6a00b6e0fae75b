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
    /// The plugin executable could not be started.
    #[error("could not start the plugin {exe}: {source}")]
    Launch {
        /// The executable.
        exe: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plugin did not print go-plugin's handshake line (`1|2|tcp|ADDR|grpc`) as Grafana
    /// expects, or exited before it.
    #[error("plugin handshake failed: {0}")]
    Handshake(String),
    /// The gRPC connection to the plugin failed.
    #[error("cannot connect to the plugin: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A gRPC call returned an error status (kept small: code and message, not the whole
    /// `tonic::Status`).
    #[error("{call} failed: {code:?}: {message}")]
    Rpc {
        /// The call (`QueryData`, `RunStream`, ...).
        call: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// Bytes that are not an Arrow IPC frame as Grafana reads QueryData frames.
    #[error("invalid Arrow frame: {0}")]
    Arrow(String),
    /// Waiting for the plugin took longer than allowed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The plugin answered, but not as Grafana needs (an error on a query, no channel on a
    /// streaming frame, a refused subscription, ...).
    #[error("{0}")]
    Protocol(String),
}

impl HarnessError {
    /// The error for a failed gRPC call.
    pub(crate) fn rpc(call: &'static str, status: &tonic::Status) -> Self {
        Self::Rpc {
            call,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}
