//! The integration tests of `ringstream-harness`, one binary.

mod alerting;
mod allow;
mod conformance;
mod e2e;
mod ha;
mod hostile;
mod hostile_engines;
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
mod tls;
mod wire;
