//! End-to-end for the NATS source: the real `gpx_ringstream` executable, a real
//! `nats-server -js` on a free loopback port ([`NatsServer`]), messages published with the
//! `async-nats` client, and what a panel shows.
//! `cargo xtask ci` installs nats-server when it is missing.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use ringstream_harness::host::{
    DataSourceSettings, HealthStatus, HostOptions, LivePanel, PluginHost, Query,
};
use ringstream_harness::panel::buffer_options;
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::{now_ms, NatsServer};

const WAIT: Duration = Duration::from_secs(10);

/// A JetStream stream `name` on `subjects`, made with the server's defaults (file storage).
pub(crate) async fn make_stream(
    client: &async_nats::Client,
    name: &str,
    subjects: &[&str],
) -> jetstream::Context {
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
        ..stream::Config::default()
    })
    .await
    .expect("the stream is made");
    js
}

/// Publishes `{"n": i}` for each `i` of `ns` to `subject`, each acknowledged by the stream.
pub(crate) async fn publish(js: &jetstream::Context, subject: &str, ns: std::ops::Range<i64>) {
    for n in ns {
        js.publish(subject.to_owned(), json!({ "n": n }).to_string().into())
            .await
            .expect("publish")
            .await
            .expect("the stream stores it");
    }
}

pub(crate) async fn plugin_on(server: &NatsServer, uid: &str) -> PluginHost {
    plugin_in(server, uid, uid).await.0
}

/// A plugin process keeping its RunStream progress in a directory of its own (as each Grafana
/// node's plugin does), emptied first.
async fn plugin_in(server: &NatsServer, uid: &str, name: &str) -> (PluginHost, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ringstream-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = HostOptions {
        env: vec![("GF_PLUGIN_STATE_DIR".to_owned(), dir.display().to_string())],
        ..HostOptions::default()
    };
    (plugin_with(server, uid, options).await, dir)
}

async fn plugin_with(server: &NatsServer, uid: &str, options: HostOptions) -> PluginHost {
    let mut host = PluginHost::start_with(plugin_exe(), options)
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: uid.into(),
        json_data: json!({ "natsUrl": server.url() }),
        ..DataSourceSettings::default()
    });
    host
}

fn numbers(panel: &ringstream_harness::panel::Panel) -> Vec<f64> {
    panel.numbers("n").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_history_from_before_the_plugin_started_fills_the_range_and_streams_on() {
    let mut server = NatsServer::start();
    let client = server.client().await;
    let js = make_stream(&client, "PLANT", &["plant.>"]).await;
    let before_start = now_ms();
    publish(&js, "plant.a.temp", 0..40).await;
    publish(&js, "plant.b.temp", 0..3).await; // another subject of the stream: not this query's

    let host = plugin_on(&server, "e2e-nats").await;
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    assert!(
        health.message.contains("JetStream: 1 stream (PLANT)"),
        "{}",
        health.message
    );

    // A small capacity: the ring holds the newest 10, the range's older rows come from the
    // stream.
    let query = Query::new(
        "A",
        json!({"source": "nats", "subject": "plant.a.temp", "stream": "PLANT",
               "capacity": 10, "tickMs": 50}),
    )
    .with_time_range(before_start - 60_000, now_ms() + 60_000)
    .with_max_data_points(1000);
    let result = host
        .query_data(std::slice::from_ref(&query))
        .await
        .expect("QueryData");
    let frame = &result["A"].frames[0];
    assert_eq!(result["A"].error, None);
    let rows = frame.len();
    assert_eq!(rows, 10, "the newest `capacity` rows of the range: {rows}");

    // With a larger capacity the whole range comes back, from the stream, oldest first.
    let wide = Query::new(
        "B",
        json!({"source": "nats", "subject": "plant.a.temp", "stream": "PLANT",
               "capacity": 1000, "tickMs": 50}),
    )
    .with_time_range(before_start - 60_000, now_ms() + 60_000)
    .with_max_data_points(1000);
    let mut live = LivePanel::open(&host, &wide, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    let want: Vec<f64> = (0..40).map(|n| n as f64).collect();
    assert_eq!(
        numbers(live.panel()),
        want,
        "{}",
        live.panel().to_table_tail(5)
    );

    publish(&js, "plant.a.temp", 40..45).await;
    live.wait_until(WAIT, |p| p.len() >= 45)
        .await
        .expect("the live messages");

    // The server goes away and comes back with its store: the consumer resumes at the next
    // sequence, nothing missed, nothing twice.
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let client = server.client().await;
    let js = jetstream::new(client);
    publish(&js, "plant.a.temp", 45..50).await;
    live.wait_until(Duration::from_secs(20), |p| p.len() >= 50)
        .await
        .expect("the messages after the restart");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = live.next_packet(Duration::from_millis(200)).await;
    let want: Vec<f64> = (0..50).map(|n| n as f64).collect();
    assert_eq!(numbers(live.panel()), want, "each message once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_subjects_stream_live_with_one_series_per_subject() {
    let server = NatsServer::start();
    let client = server.client().await;
    let host = plugin_on(&server, "e2e-nats-core").await;
    let query = Query::new(
        "A",
        json!({"source": "nats", "subject": "room.*", "tickMs": 50}),
    );
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    // The subscription is made when the channel's producer starts: publish until it hears.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut i = 0;
    while live.panel().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message reached the panel"
        );
        for room in ["room.a", "room.b"] {
            client
                .publish(room, json!({ "t": i }).to_string().into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        i += 1;
        let _ = live
            .wait_until(Duration::from_millis(200), |p| p.len() >= 3)
            .await;
    }
    let panel = live.panel();
    for series in ["t room.a", "t room.b"] {
        assert!(
            panel.column(series).is_some(),
            "{series}: {}",
            panel.to_table_tail(3)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_and_wrong_credentials_are_errors_that_name_them() {
    let server = NatsServer::start_with(
        "authorization { users = [ { user: grafana, password: \"s3cret-pass\" } ] }",
    );
    let mut host = plugin_on(&server, "e2e-nats-auth").await;
    host.set_settings(DataSourceSettings {
        uid: "e2e-nats-auth".into(),
        json_data: json!({ "natsUrl": server.url(), "natsUser": "grafana" }),
        secure: [("natsPassword".to_owned(), "wrong-pass-123".to_owned())].into(),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Error, "{}", health.message);
    assert!(health.message.contains("NATS"), "{}", health.message);
    assert!(
        health.message.contains("refused the credentials"),
        "{}",
        health.message
    );
    assert!(!health.message.contains("wrong-pass-123"));

    host.set_settings(DataSourceSettings {
        uid: "e2e-nats-auth".into(),
        json_data: json!({ "natsUrl": server.url(), "natsUser": "grafana" }),
        secure: [("natsPassword".to_owned(), "s3cret-pass".to_owned())].into(),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    assert!(
        health.message.contains("as user \"grafana\""),
        "{}",
        health.message
    );

    let query = Query::new(
        "A",
        json!({"source": "nats", "subject": "x.y", "stream": "NOPE"}),
    )
    .with_time_range(now_ms() - 60_000, now_ms());
    let result = host.query_data(&[query]).await.expect("QueryData");
    let error = result["A"].error.clone().unwrap_or_default();
    assert!(
        error.contains("NOPE"),
        "{error}\n{}",
        host.logs().join("\n")
    );
    assert!(!error.contains("s3cret-pass"), "{error}");
}

/// A JetStream query without backfill, so that a channel opened later starts later.
fn cursor_query(subject: &str, stream: &str) -> Query {
    Query::new(
        "A",
        json!({"source": "nats", "subject": subject, "stream": stream,
               "capacity": 1000, "tickMs": 50, "backfill": false}),
    )
    .with_time_range(now_ms() - 600_000, now_ms() + 60_000)
    .with_max_data_points(1000)
}

fn sequence(n: std::ops::Range<i64>) -> Vec<f64> {
    n.map(|n| n as f64).collect()
}

/// HA Grafana: QueryData answered by node A's plugin, the browser's Live connection
/// (SubscribeStream, RunStream) on node B's, while messages keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_queried_on_one_plugin_and_streamed_by_another_holds_every_message_once() {
    let server = NatsServer::start();
    let client = server.client().await;
    let js = make_stream(&client, "HA", &["ha.>"]).await;
    publish(&js, "ha.x", 0..20).await;
    let (a, _dir_a) = plugin_in(&server, "e2e-nats-ha", "ha-a").await;
    let (b, _dir_b) = plugin_in(&server, "e2e-nats-ha", "ha-b").await;

    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            for n in 20..150 {
                publish(&js, "ha.x", n..n + 1).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let query = cursor_query("ha.x", "HA");
    let result = a
        .query_data(std::slice::from_ref(&query))
        .await
        .expect("QueryData on A");
    assert_eq!(result["A"].error, None);
    let frame = &result["A"].frames[0];
    let channel = frame.channel().expect("a channel").to_owned();
    assert!(channel.contains("/from="), "a cursor path: {channel}");
    let queried = frame.len();
    assert!(
        queried >= 20,
        "the range's history from the engine: {queried}"
    );
    // B's channel opens later, after more messages: it must read the gap from the engine.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut live = LivePanel::from_query_frame(&b, frame, buffer_options(1000, None, false))
        .await
        .expect("the panel streams from B");
    publisher.await.expect("the publisher");
    live.wait_until(WAIT, |p| p.len() >= 150)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", live.panel().to_table_tail(5)));
    let _ = live.next_packet(Duration::from_millis(300)).await;
    assert_eq!(
        numbers(live.panel()),
        sequence(0..150),
        "every message once, in order ({queried} from A's QueryData)\n{}",
        live.panel().to_table_tail(5)
    );
    assert!(queried < 150, "B streamed some: {queried}");
}

/// The plugin restarts while a panel streams a cursor path; Grafana resubmits the RunStream
/// of the same path to the new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_plugin_continues_a_cursor_paths_run_stream_without_repeat_or_gap() {
    let server = NatsServer::start();
    let client = server.client().await;
    let js = make_stream(&client, "RESTART", &["restart.>"]).await;
    publish(&js, "restart.x", 0..10).await;
    let (mut host, dir) = plugin_in(&server, "e2e-nats-restart", "restart").await;
    let query = cursor_query("restart.x", "RESTART");
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    assert!(live.path().contains("/from="), "{}", live.path());
    publish(&js, "restart.x", 10..30).await;
    live.wait_until(WAIT, |p| p.len() >= 30)
        .await
        .expect("the live messages");
    // gRPC took every packet; the progress file follows within milliseconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = std::fs::read_to_string(dir.join("runstreams-v1.txt")).unwrap_or_default();
    assert!(
        state.contains(live.path()),
        "the progress is kept: {state:?}"
    );

    host.restart().await.expect("the plugin restarts");
    publish(&js, "restart.x", 30..40).await; // while no RunStream runs
    live.rerun(&host)
        .await
        .expect("the RunStream is resubmitted");
    publish(&js, "restart.x", 40..50).await;
    live.wait_until(WAIT, |p| p.len() >= 50)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", live.panel().to_table_tail(5)));
    let _ = live.next_packet(Duration::from_millis(300)).await;
    assert_eq!(
        numbers(live.panel()),
        sequence(0..50),
        "no repeat, no gap\n{}",
        live.panel().to_table_tail(60)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
