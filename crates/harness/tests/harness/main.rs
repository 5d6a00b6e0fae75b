//! The integration tests of `ringstream-harness`, one binary.

mod alerting;
mod conformance;
mod e2e;
mod hostile;
mod inproc;
mod mqtt_e2e;
mod nats_e2e;
mod panel;
mod plugin_exe;
mod props;
mod redis_e2e;
mod resources;
mod roundtrip;
mod servers;
mod snapshots;
mod wire;
