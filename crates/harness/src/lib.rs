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
