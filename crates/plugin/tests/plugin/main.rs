//! The integration tests of `ringstream-plugin`, one binary.

mod broker;
mod channel;
mod hub;
mod metrics;
mod mqtt;
mod query;
mod schema;
mod support;
mod tidy;
mod websocket;
