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
//! - [`HarnessError`]: the crate's one error type.

pub mod conformance;
mod error;
pub mod live;
pub mod wire;

pub use error::HarnessError;
