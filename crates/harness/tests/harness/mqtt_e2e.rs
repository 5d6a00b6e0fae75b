//! End-to-end for the MQTT source: the real `gpx_ringstream` executable ([`PluginHost`]),
//! a real mosquitto on a free loopback port (never the system broker's 1883), messages
//! published with Debian's `mosquitto_pub` ([`crate::servers`]), and what a panel shows
//! ([`LivePanel`]).
//! `cargo xtask ci` installs mosquitto and its clients when they are missing.

use std::time::{Duration, Instant};

use ringstream_harness::host::{DataSourceSettings, HealthStatus, LivePanel, PluginHost, Query};
use ringstream_harness::panel::buffer_options;
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::Mosquitto;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_reach_the_panel_through_the_plugin_and_survive_a_broker_restart() {
    let mut broker = Mosquitto::start();
    assert!(broker.publish(
        "e2e/plant",
        r#"{"ts":1700000000000,"temp":20.5,"state":"on"}"#,
        true
    ));

    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "e2e-mqtt".into(),
        json_data: json!({ "mqttUrl": format!("mqtt://127.0.0.1:{}", broker.port) }),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);

    let query = Query::new(
        "A",
        json!({"source": "mqtt", "topic": "e2e/#", "timePath": "ts", "tickMs": 50}),
    );
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    live.wait_until(WAIT, |p| p.len() == 1)
        .await
        .expect("the retained value at once");
    assert!(broker.publish(
        "e2e/plant",
        r#"{"ts":1700000001000,"temp":21,"state":"off"}"#,
        false
    ));
    live.wait_until(WAIT, |p| p.len() == 2)
        .await
        .expect("the live message");
    let panel = live.panel();
    assert_eq!(
        panel.numbers("temp e2e/plant"),
        Some(vec![20.5, 21.0]),
        "one series per topic under a wildcard:\n{}",
        panel.to_table_tail(5)
    );
    assert_eq!(
        panel.numbers("time"),
        Some(vec![1_700_000_000_000.0, 1_700_000_001_000.0])
    );

    // The broker goes away and comes back: the plugin stays up, the stream resumes.
    broker.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.restart();
    let restarted = Instant::now();
    let mut ts = 1_700_000_002_000_i64;
    while live.panel().len() < 3 {
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "not resumed within 5 s"
        );
        broker.publish("e2e/plant", &format!(r#"{{"ts":{ts},"temp":22}}"#), false);
        ts += 1000;
        let _ = live
            .wait_until(Duration::from_millis(250), |p| p.len() >= 3)
            .await;
    }
    assert!(host.is_running(), "the plugin process is still up");
    let times = live.panel().numbers("time").expect("times");
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "no row twice: {times:?}"
    );
}
