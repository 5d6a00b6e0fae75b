//! CollectMetrics: what Grafana scrapes from the plugin, including the budget's use.

use grafana_plugin_sdk::pluginv2::{self, diagnostics_server::Diagnostics};
use serde_json::json;

use crate::support::{ctx, query_data, service};

#[tokio::test]
async fn metrics_show_channels_and_the_memory_they_hold() {
    let service = service();
    let ctx = ctx("m", 1, json!({}), &[]);
    query_data(
        &service,
        &ctx,
        &json!({"signal": "counter", "capacity": 1000}),
    )
    .await
    .expect("a frame");
    let response = service
        .collect_metrics(tonic::Request::new(pluginv2::CollectMetricsRequest {
            plugin_context: Some(ctx),
        }))
        .await
        .expect("CollectMetrics answers")
        .into_inner();
    let text = String::from_utf8(response.metrics.expect("metrics").prometheus).expect("text");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .expect("a number")
    };
    assert_eq!(value("ringstream_channels"), 1.0);
    // 1 000 rows of (time, value): 18 bytes a row, plus the channel itself.
    assert!(value("ringstream_memory_bytes") >= 18_000.0, "{text}");
    assert_eq!(value("ringstream_memory_limit_bytes"), f64::from(256 << 20));
    assert_eq!(
        value("ringstream_signal_rows_per_second"),
        10.0,
        "one row per 100 ms"
    );
}
