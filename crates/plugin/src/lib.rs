//! Ringstream's Grafana backend plugin, as a library (the `gpx_ringstream` binary is a thin
//! `main` around [`service`]).
//!
//! # Map
//! - [`query`]: the query model, validated field by field ([`query::StreamSpec`]).
//! - [`settings`]: the data source's settings (connections, credentials, TLS), validated,
//!   secrets redacted.
//! - [`channel`]: [`ChannelPath`], a stream's parameters as a canonical Grafana Live path.
//! - [`source`]: the [`Source`](source::Source) trait, the one thing to implement for a new
//!   source; [`SignalSource`](source::SignalSource), the tutorial's signals;
//!   [`MqttSource`](source::MqttSource) and [`WebSocketSource`](source::WebSocketSource),
//!   message feeds turned into rows.
//! - [`hub`]: the [`StreamHub`](hub::StreamHub): one producer and one ring per channel.
//! - [`service`]: the gRPC services Grafana calls (data, diagnostics, stream).
//! - [`clock`]: wall-clock time, replaceable by tokio's pausable time in tests.
//! - [`PluginError`]: the crate's one error type.
//!
//! Architecture invariant: a query never chooses a host, and a channel path is parsed with
//! the same validation and limits as a query.
//!
//! # Example
//! A query becomes a stream spec and its channel path; the path parses back to the same
//! stream, and a bad query names its field.
//! ```
//! use ringstream_plugin::{query::StreamSpec, ChannelPath};
//!
//! let spec = StreamSpec::from_json_bytes(br#"{"signal":"sine","periodMs":5000,"tickMs":250}"#)?;
//! let path = ChannelPath::of(&spec);
//! assert_eq!(path.as_str(), "v1/sine/amplitude=1/period=5000/offset=0/tick=250/cap=1000/backfill=1");
//! assert_eq!(ChannelPath::parse(path.as_str())?.1, spec);
//!
//! let err = StreamSpec::from_json_bytes(br#"{"tickMs":5}"#).unwrap_err();
//! assert_eq!(err.field, "tickMs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod budget;
pub mod channel;
pub mod clock;
mod error;
pub mod hub;
pub mod limits;
pub mod param;
pub mod query;
pub(crate) mod rand;
pub mod resource;
pub mod schema;
pub mod service;
pub mod settings;
pub mod source;

pub use channel::ChannelPath;
pub use error::PluginError;
pub use ringstream_frame as frame;

/// The plugin id Grafana knows this plugin by (`plugin.json`'s `id`).
pub const PLUGIN_ID: &str = "seed-ringstream-datasource";

/// The executable name declared in `plugin.json` (Grafana appends `_<goos>_<goarch>`).
pub const EXECUTABLE: &str = "gpx_ringstream";
