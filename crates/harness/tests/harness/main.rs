//! The integration tests of `ringstream-harness`, one binary.

mod conformance;
mod wire;
