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

/// Percent-encodes everything but unreserved characters (a resource call's query string).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
