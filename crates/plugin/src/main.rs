//! `gpx_ringstream`: the plugin executable Grafana starts.
//!
//! It prints go-plugin's handshake line (`1|2|tcp|127.0.0.1:PORT|grpc`) on stdout, logs to
//! stderr in the format Grafana reads, and serves until Grafana stops it. Its limits come
//! from `[plugin.seed-ringstream-datasource]` in grafana.ini (see `ringstream_plugin::limits`).

use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::limits::Limits;
use ringstream_plugin::service::RingstreamService;
use tracing_subscriber::prelude::*;

/// Log targets of this plugin's own crates: every level `RUST_LOG` asks for is written.
const OWN_TARGETS: [&str; 2] = ["ringstream", "gpx_ringstream"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Dependencies log at most warnings, whatever RUST_LOG says: their debug and trace
    // output holds what the plugin must never log (tungstenite's handshake request with the
    // data source's Authorization header, the MQTT client's CONNECT packet).
    let dependencies = tracing_subscriber::filter::filter_fn(|meta| {
        OWN_TARGETS.iter().any(|t| meta.target().starts_with(t))
            || *meta.level() <= tracing::Level::WARN
    });
    tracing_subscriber::registry()
        .with(
            grafana_plugin_sdk::backend::layer()
                .with_filter(filter)
                .with_filter(dependencies),
        )
        .init();
    let listener = grafana_plugin_sdk::backend::initialize().await?;
    let (limits, problems) = Limits::from_env();
    for problem in &problems {
        tracing::error!(error = %problem, "plugin setting refused");
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        max_memory_mb = limits.max_memory_mb,
        max_channels = limits.max_channels,
        "Ringstream plugin serving"
    );
    let state_dir = ringstream_plugin::limits::state_dir_from_lookup(|k| std::env::var(k).ok());
    let hub = StreamHub::new(HubConfig {
        state_dir: Some(state_dir),
        ..HubConfig::new(limits)
    });
    RingstreamService::new(hub).serve(listener).await?;
    Ok(())
}
