//! The one error type of this crate.

use ringstream_frame::FrameError;

/// What the plugin reports: bad queries and paths, limits, and internal failures. Clone:
/// one error answers every query of a request that asked the same thing.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A query reads what the data source's admin does not allow (an allow list such as
    /// `mqttAllow` that covers none of it).
    #[error(
        "`{field}` {value:?} is not allowed on this data source: its admin lists what queries \
         may read (setting `{setting}`)"
    )]
    NotAllowed {
        /// The query's parameter (`topic`, `subject`, `path`).
        field: &'static str,
        /// Its value.
        value: String,
        /// The allow list's setting.
        setting: &'static str,
    },
    /// A source stopped (its connection ended); the hub recreates the channel on next use.
    #[error("source stopped: {0}")]
    Source(String),
    /// A channel path that is not one this plugin made.
    #[error("unknown stream path: {0}")]
    BadPath(String),
    /// A limit of the budget (memory, channels, rows per second, connections) would be
    /// broken; the message names the limit, whose it is and the setting.
    #[error(transparent)]
    Budget(#[from] crate::budget::BudgetError),
    /// An answer would be larger than a limit allows.
    #[error(
        "{what} would exceed {limit_mib} MiB (`{setting}`, [plugin.seed-ringstream-datasource] in \
         grafana.ini); narrow the time range or lower the panel's max data points"
    )]
    TooLarge {
        /// What: "the response", "the initial data".
        what: &'static str,
        /// The limit, MiB.
        limit_mib: u64,
        /// The limit's key.
        setting: &'static str,
    },
    /// A per-channel limit of the process would be broken (RunStream: RESOURCE_EXHAUSTED).
    #[error(
        "{what} limit reached: at most {limit} at once (`{setting}`, \
         [plugin.seed-ringstream-datasource] in grafana.ini)"
    )]
    Exhausted {
        /// What there would be too many of.
        what: &'static str,
        /// The limit.
        limit: u64,
        /// The limit's key.
        setting: &'static str,
    },
    /// Refused as asked: more queries than a request may hold, a topic the broker refused.
    /// The message says why and what to change.
    #[error("{0}")]
    Refused(String),
    /// The ring refused something (a bug in a source: its rows do not fit its schema).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Encoding a frame for Grafana failed.
    #[error("could not encode the frame: {0}")]
    Encode(String),
}
