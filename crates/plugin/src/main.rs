//! `gpx_ringstream`: the plugin executable Grafana starts.
//!
//! It prints go-plugin's handshake line (`1|2|tcp|127.0.0.1:PORT|grpc`) on stdout, logs to
//! stderr in the format Grafana reads, and serves until Grafana stops it.

use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::service::RingstreamService;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(grafana_plugin_sdk::backend::layer())
        .with(filter)
        .init();
    let listener = grafana_plugin_sdk::backend::initialize().await?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "Ringstream plugin serving"
    );
    let hub = StreamHub::new(HubConfig::default());
    RingstreamService::new(hub).serve(listener).await?;
    Ok(())
}
