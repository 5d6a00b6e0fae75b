//! The integration tests of `ringstream-plugin`, one binary.

mod channel;
mod hub;
mod query;
