//! Grafana's side of the plugin protocol and a panel model, for testing streaming plugins.
//!
//! # Map
//! - [`conformance`]: runners that replay op scripts through Ringstream's data structures and
//!   print the result in the same JSON as the `@grafana/data` oracle (`oracle/`), so the two
//!   can be compared fixture by fixture.
//! - [`HarnessError`]: the crate's one error type.

pub mod conformance;
mod error;

pub use error::HarnessError;
