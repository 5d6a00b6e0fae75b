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

/// A plugin whose channels linger 1 s, on `broker`, with these extra jsonData settings.
async fn lingering_plugin(broker: &Mosquitto, uid: &str, extra: serde_json::Value) -> PluginHost {
    let options = ringstream_harness::host::HostOptions {
        env: vec![("GF_PLUGIN_LINGER_SECONDS".into(), "1".into())],
        ..Default::default()
    };
    let mut host = PluginHost::start_with(plugin_exe(), options)
        .await
        .expect("the plugin starts");
    let mut json = json!({ "mqttUrl": broker.url() });
    if let (Some(json), Some(extra)) = (json.as_object_mut(), extra.as_object()) {
        json.extend(extra.clone());
    }
    host.set_settings(DataSourceSettings {
        uid: uid.into(),
        json_data: json,
        ..DataSourceSettings::default()
    });
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_topic_filter_gives_a_new_panel_what_came_before_it_opened() {
    let broker = Mosquitto::start();
    let host = lingering_plugin(
        &broker,
        "e2e-record",
        json!({ "mqttRecord": "rec/#\nother/x" }),
    )
    .await;
    // The plugin hears of the data source (here: Save & test) and starts recording.
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    // Until the recording's subscription is up (messages before its SUBACK are lost),
    // publish a probe and ask the recorded channel's fields, which opens no channel.
    let fields = format!(
        "fields?query={}",
        crate::percent_encode(r#"{"source":"mqtt","topic":"rec/#"}"#)
    );
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(broker.publish("rec/probe", r#"{"p":1}"#, false));
        let (_, body) = host.call_resource("GET", &fields, b"").await.unwrap();
        if body.to_string().contains("rec/probe") {
            break;
        }
        assert!(Instant::now() < deadline, "never recording: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..5 {
        assert!(broker.publish("rec/a", &format!(r#"{{"n":{n}}}"#), false));
    }
    // Longer than the channels' linger: a recorded stream stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let query = Query::new("A", json!({"source": "mqtt", "topic": "rec/#"}));
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    // The probes' rows are in the frame too, with no `n rec/a`.
    live.wait_until(WAIT, |p| p.numbers_present("n rec/a").len() >= 5)
        .await
        .expect("the messages from before the panel opened");
    assert_eq!(
        live.panel().numbers_present("n rec/a"),
        [0.0, 1.0, 2.0, 3.0, 4.0]
    );
    let notices = format!("{:?}", live.panel().frame().meta());
    assert!(notices.contains("History since"), "{notices}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_time_keeps_a_stream_recording_after_its_last_viewer() {
    let broker = Mosquitto::start();
    let kept = lingering_plugin(&broker, "e2e-retain", json!({ "retentionSeconds": 30 })).await;
    let query = Query::new(
        "A",
        json!({"source": "mqtt", "topic": "ret/x", "tickMs": 50}),
    );
    let mut live = LivePanel::open(&kept, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    // Until the subscription is up, publish and look.
    let deadline = Instant::now() + WAIT;
    while live.panel().is_empty() {
        assert!(Instant::now() < deadline, "the stream never started");
        broker.publish("ret/x", r#"{"n":-1}"#, false);
        let _ = live
            .wait_until(Duration::from_millis(200), |p| !p.is_empty())
            .await;
    }
    live.cancel(); // the viewer leaves
    drop(live);
    tokio::time::sleep(Duration::from_millis(2500)).await; // past the 1 s linger
    for n in 0..3 {
        assert!(broker.publish("ret/x", &format!(r#"{{"n":{n}}}"#), false));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = LivePanel::open(&kept, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens again");
    back.wait_until(WAIT, |p| {
        p.numbers("n")
            .is_some_and(|n| n.ends_with(&[0.0, 1.0, 2.0]))
    })
    .await
    .expect("what came while nobody watched");
    let notices = format!("{:?}", back.panel().frame().meta());
    assert!(
        notices.contains("records for 30 s after its last viewer"),
        "{notices}"
    );
}
