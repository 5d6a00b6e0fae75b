//! Ringstream's Grafana backend plugin, as a library (the `gpx_ringstream` binary is a thin
//! `main` around [`service`]).
//!
//! # Map
//! - [`source`]: the contract of a source: [`SourceKind`](source::SourceKind) (what it is,
//!   declared in one [`SourceInfo`](source::SourceInfo): name, parameters, variants, path
//!   layout, settings) and [`Source`](source::Source) (one running stream, writing rows into
//!   a [`RowSink`](source::RowSink)); the [`SOURCES`](source::SOURCES) registry; one module
//!   per source (`signal`, `mqtt`, `websocket`), the message feeds' shared parts in `feed`.
//! - [`param`]: a parameter's type, default, range and doc, declared once; validation,
//!   channel paths, the schemas and the docs' tables derive from it.
//! - [`query`]: the query model ([`query::StreamSpec`]), validated field by field.
//! - [`channel`]: [`ChannelPath`], a stream's parameters as a canonical Grafana Live path.
//! - [`settings`]: the data source's settings, one section per source, secrets redacted.
//! - [`schema`]: the exported JSON Schemas of queries and settings, and the docs' tables.
//! - [`hub`]: the [`StreamHub`](hub::StreamHub): one producer and one ring per channel.
//! - [`limits`] and [`budget`]: the plugin's limits (one table, one env var each) and the
//!   memory and rate budgets charged per viewer, org and data source.
//! - [`service`]: the gRPC services Grafana calls (data, diagnostics, stream, resources).
//! - [`resource`]: the editor's resource calls (validate, topics, fields).
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

pub mod allow;
pub mod budget;
pub mod channel;
pub mod clock;
mod error;
pub mod hub;
pub mod limits;
pub mod param;
pub mod progress;
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
