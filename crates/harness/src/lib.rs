//! Grafana's side of the plugin protocol and a panel model, for testing streaming plugins.
//!
//! # Map
//! - [`conformance`]: runners that replay op scripts through Ringstream's data structures and
//!   print the result in the same JSON as the `@grafana/data` oracle (`oracle/`), so the two
//!   can be compared fixture by fixture.
//! - [`wire`]: a decoder for Grafana's DataFrameJSON messages (what a streaming plugin sends
//!   through Grafana Live).
//! - [`live`]: [`live::LiveFrame`], the Rust counterpart of `StreamingDataFrame`: what a panel
//!   holds after a sequence of those messages, library quirks included.
//! - [`host`]: [`host::PluginHost`], which starts a plugin executable as Grafana does and
//!   calls it (health, QueryData, SubscribeStream, RunStream, PublishStream), and
//!   [`host::LivePanel`], one panel driven through those calls.
//! - [`query_frame`]: QueryData's Arrow IPC frames, decoded into a table and into the
//!   DataFrameJSON message the frontend pushes into a panel.
//! - [`panel`]: [`panel::Panel`], what a panel shows: the query frame, then the initial data,
//!   then the packets, through [`live::LiveFrame`].
//! - [`watch`]: `ringstream-harness watch`, the live panel view in a terminal.
//! - [`HarnessError`]: the crate's one error type.
//!
//! # Example
//! What a panel shows after Grafana Live delivered two messages: the schema with the first
//! rows, then a data-only packet.
//! ```
//! use ringstream_harness::live::{LiveFrame, LiveOptions};
//!
//! let mut panel = LiveFrame::new(LiveOptions::default());
//! panel.push_json(r#"{"schema":{"fields":[{"name":"time","type":"time"},{"name":"value","type":"number"}]},
//!                    "data":{"values":[[1000,1100],[0.5,0.7]]}}"#)?;
//! panel.push_json(r#"{"data":{"values":[[1200],[0.9]]}}"#)?;
//! assert_eq!(panel.len(), 3);
//! # Ok::<(), ringstream_harness::HarnessError>(())
//! ```

pub mod conformance;
mod error;
mod fmt;
pub mod host;
pub mod live;
pub mod panel;
pub mod query_frame;
pub mod watch;
pub mod wire;

pub use error::HarnessError;
