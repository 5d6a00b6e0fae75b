//! The one error type of this crate.

use ringstream_frame::FrameError;

/// What the plugin reports: bad queries and paths, limits, and internal failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A query (or a channel path) with a field that is missing, mistyped or out of range.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    /// The data source's settings are invalid (the message never holds a secret).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A query for a source whose connection the data source does not configure.
    #[error(
        "this data source has no {kind} connection: set `{setting}` in the data source's \
         settings (a query cannot choose a server)"
    )]
    NotConfigured {
        /// The query's source (`mqtt`, `websocket`).
        kind: &'static str,
        /// The setting that is missing.
        setting: &'static str,
    },
    /// A source stopped (its connection ended); the hub recreates the channel on next use.
    #[error("source stopped: {0}")]
    Source(String),
    /// A channel path that is not one this plugin made.
    #[error("unknown stream path: {0}")]
    BadPath(String),
    /// The hub holds as many channels as it may.
    #[error("too many live streams: at most {max} at once; close some panels or raise the limit")]
    TooManyChannels {
        /// The limit.
        max: usize,
    },
    /// The ring refused something (a bug in a source: its rows do not fit its schema).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Encoding a frame for Grafana failed.
    #[error("could not encode the frame: {0}")]
    Encode(String),
}
