//! The integration tests of `ringstream-harness`, one binary.

mod conformance;
mod roundtrip;
mod wire;
