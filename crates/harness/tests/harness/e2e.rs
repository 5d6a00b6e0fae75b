//! End-to-end: the real `gpx_ringstream` executable, started and called as Grafana does
//! ([`PluginHost`]), its streams shown through the panel model.
//!
//! These run on busy CI machines: they wait for conditions with generous timeouts, never
//! for fixed times, and check tick spacing on the rows' timestamps (which sit on the
//! `tickMs` grid), not on wall-clock arrival times.

use std::time::{Duration, Instant};

use ringstream_harness::host::{
    DataSourceSettings, HealthStatus, LivePanel, PluginHost, Query, StreamStatus, User,
};
use ringstream_harness::panel::{buffer_options, Panel};
use ringstream_harness::HarnessError;
use serde_json::json;

use crate::plugin_exe::plugin_exe;

/// The longest any condition may take to hold.
const WAIT: Duration = Duration::from_secs(10);

async fn start() -> PluginHost {
    PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts and completes the handshake")
}

fn numbers(panel: &Panel, field: &str) -> Vec<f64> {
    panel
        .numbers(field)
        .unwrap_or_else(|| panel_failure(panel, &format!("no numeric field {field:?}")))
}

fn panel_failure(panel: &Panel, why: &str) -> ! {
    panic!("{why}; the panel shows:\n{}", panel.to_table_tail(20))
}

/// Times exactly `tick` apart, on the `tick` grid: no row missing, repeated or reordered.
fn assert_on_grid(panel: &Panel, tick: f64) {
    let times = numbers(panel, "time");
    for (i, t) in times.iter().enumerate() {
        if t % tick != 0.0 {
            panel_failure(
                panel,
                &format!("time #{i} ({t}) is not on the {tick} ms grid"),
            );
        }
    }
    for (i, w) in times.windows(2).enumerate() {
        if w[1] - w[0] != tick {
            panel_failure(
                panel,
                &format!(
                    "rows #{i} and #{} are {} ms apart, not {tick}",
                    i + 1,
                    w[1] - w[0]
                ),
            );
        }
    }
}

/// A counter's values: each exactly one more than the one before.
fn assert_consecutive(panel: &Panel) {
    let values = numbers(panel, "value");
    for (i, w) in values.windows(2).enumerate() {
        if w[1] != w[0] + 1.0 {
            panel_failure(
                panel,
                &format!("value #{} is {} after {}", i + 1, w[1], w[0]),
            );
        }
    }
}

fn last(panel: &Panel, field: &str) -> f64 {
    numbers(panel, field).last().copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_query_streams_time_value_rows_at_tick_ms() {
    let host = start().await;
    let health = host.check_health().await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);

    // `{}` is the tutorial's stream: a random walk, a row every 100 ms, 1000 rows of history.
    let query = Query::new("A", json!({}));
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .unwrap();
    assert!(
        live.path().starts_with("v1/random_walk/"),
        "{}",
        live.path()
    );
    let fields: Vec<(&str, &str)> = live
        .panel()
        .frame()
        .fields()
        .iter()
        .map(|f| (f.name.as_str(), f.field_type.as_str()))
        .collect();
    assert_eq!(fields, [("time", "time"), ("value", "number")]);
    assert_eq!(live.panel().len(), 1000, "history fills the panel at once");

    let first_live = last(live.panel(), "time") + 100.0;
    live.wait_until(WAIT, |p| last(p, "time") >= first_live + 500.0)
        .await
        .unwrap();
    assert_eq!(
        live.panel().len(),
        1000,
        "maxLength keeps the panel at 1000 rows"
    );
    assert_on_grid(live.panel(), 100.0);
    assert!(numbers(live.panel(), "value").iter().all(|v| v.is_finite()));
    // The value field is named after the signal in Grafana's legend.
    let value = &live.panel().frame().fields()[1];
    assert_eq!(
        value.config.get("displayNameFromDS"),
        Some(&json!("random_walk"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_tick_ms_sets_the_row_spacing() {
    let host = start().await;
    let query = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 250, "capacity": 20, "intervalMs": 5}),
    );
    let mut live = LivePanel::open(&host, &query, buffer_options(20, None, false))
        .await
        .unwrap();
    assert!(live.path().contains("/tick=250/"), "{}", live.path());
    let start_value = last(live.panel(), "value");
    live.wait_until(WAIT, |p| last(p, "value") >= start_value + 4.0)
        .await
        .unwrap();
    assert_on_grid(live.panel(), 250.0);
    assert_consecutive(live.panel());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_stream_independently() {
    let host = start().await;
    let a = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 100, "capacity": 30}),
    );
    let b = Query::new(
        "B",
        json!({"signal": "sine", "tickMs": 200, "capacity": 10, "periodMs": 2000, "amplitude": 5}),
    );
    let mut results = host.query_data(&[a, b]).await.unwrap();
    let frame_a = results.remove("A").unwrap().frames.remove(0);
    let frame_b = results.remove("B").unwrap().frames.remove(0);
    assert_eq!(frame_a.ref_id.as_deref(), Some("A"));
    assert_eq!(frame_b.ref_id.as_deref(), Some("B"));
    assert_ne!(frame_a.channel(), frame_b.channel());

    let mut pa = LivePanel::from_query_frame(&host, &frame_a, buffer_options(30, None, false))
        .await
        .unwrap();
    let mut pb = LivePanel::from_query_frame(&host, &frame_b, buffer_options(10, None, false))
        .await
        .unwrap();
    assert_eq!((pa.panel().len(), pb.panel().len()), (30, 10));
    let (a0, b0) = (last(pa.panel(), "time"), last(pb.panel(), "time"));
    let (ra, rb) = tokio::join!(
        pa.wait_until(WAIT, |p| last(p, "time") >= a0 + 500.0),
        pb.wait_until(WAIT, |p| last(p, "time") >= b0 + 1000.0),
    );
    ra.unwrap();
    rb.unwrap();
    assert_on_grid(pa.panel(), 100.0);
    assert_consecutive(pa.panel());
    assert_on_grid(pb.panel(), 200.0);
    for v in numbers(pb.panel(), "value") {
        assert!(
            (-5.0..=5.0).contains(&v),
            "sine value {v} outside ±amplitude"
        );
    }
    let legend = |p: &LivePanel| p.panel().frame().fields()[1].config["displayNameFromDS"].clone();
    assert_eq!(
        (legend(&pa), legend(&pb)),
        (json!("counter"), json!("sine"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_shows_the_history_not_a_blank_panel() {
    let host = start().await;
    // A slow tick leaves room to re-query and re-subscribe between two packets, as the
    // browser does between two of Grafana's pushes.
    let query = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 500, "capacity": 40}),
    );
    let options = buffer_options(40, None, false);
    let mut first = LivePanel::open(&host, &query, options).await.unwrap();
    first.next_packet(WAIT).await.unwrap().expect("a packet");

    // The refresh: a new query and a new subscription while Grafana's RunStream goes on.
    let mut results = host.query_data(std::slice::from_ref(&query)).await.unwrap();
    let frame = results.remove("A").unwrap().frames.remove(0);
    let mut refreshed = Panel::with_query_frame(&frame, options).unwrap();
    let reply = host.subscribe(first.path()).await.unwrap();
    assert_eq!(reply.status, StreamStatus::Ok);
    refreshed.push_initial(&reply.data).unwrap();
    assert_eq!(
        refreshed.len(),
        40,
        "the refreshed panel has its history at once"
    );

    // Grafana's one RunStream feeds both subscribers from here on.
    for _ in 0..3 {
        let packet = first.next_packet(WAIT).await.unwrap().expect("a packet");
        refreshed.push_packet(&packet.message).unwrap();
    }
    assert_eq!(
        refreshed.rows(),
        first.panel().rows(),
        "both panels show the same rows"
    );
    assert_eq!(refreshed.len(), 40);
    assert_consecutive(&refreshed);
    assert_on_grid(&refreshed, 500.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stream_restarts_without_gaps_or_repeats() {
    let host = start().await;
    let query = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 100, "capacity": 100}),
    );
    let mut live = LivePanel::open(&host, &query, buffer_options(100, None, false))
        .await
        .unwrap();
    live.next_packet(WAIT).await.unwrap().expect("a packet");
    let before = last(live.panel(), "value");

    live.cancel(); // the last subscriber left; rows keep coming into the ring meanwhile
    tokio::time::sleep(Duration::from_millis(400)).await;
    live.rerun(&host).await.unwrap();
    let packet = live.next_packet(WAIT).await.unwrap().expect("a packet");
    assert!(
        packet.message.schema.is_some(),
        "a new RunStream sends the schema first"
    );
    live.wait_until(WAIT, |p| last(p, "value") >= before + 8.0)
        .await
        .unwrap();
    assert_consecutive(live.panel());
    assert_on_grid(live.panel(), 100.0);
    assert_eq!(live.panel().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_plugin_is_restarted_and_recovers() {
    let mut host = start().await;
    let query = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 100, "capacity": 50}),
    );
    let options = buffer_options(50, None, false);
    let mut live = LivePanel::open(&host, &query, options).await.unwrap();
    live.next_packet(WAIT).await.unwrap().expect("a packet");
    let old_pid = host.pid();

    host.kill().await.unwrap();
    assert!(!host.is_running());
    match live.next_packet(WAIT).await {
        Ok(None) | Err(HarnessError::Rpc { .. }) => {} // the stream ends, promptly
        other => panic!("a dead plugin's RunStream gave {other:?}"),
    }
    assert!(host.check_health().await.is_err());

    host.restart().await.unwrap();
    assert_ne!(host.pid(), old_pid);
    let health = host.check_health().await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);

    // Grafana restarts the RunStream on the new process; the open panel carries on.
    let last_before = last(live.panel(), "time");
    live.rerun(&host).await.unwrap();
    live.wait_until(WAIT, |p| last(p, "time") >= last_before + 300.0)
        .await
        .unwrap();
    let times = numbers(live.panel(), "time");
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "times strictly increase across the restart: {times:?}"
    );
    // And a refreshed panel gets the new process's history at once.
    let fresh = LivePanel::open(&host, &query, options).await.unwrap();
    assert_eq!(fresh.panel().len(), 50);
    assert_on_grid(fresh.panel(), 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_clear_errors_on_their_own_ref_id() {
    let host = start().await;
    let queries = [
        Query::new("A", json!({"signal": "counter", "tickMs": 100})),
        Query::new("WRONG_TYPE", json!({"tickMs": "fast"})),
        Query::new("UNKNOWN_SIGNAL", json!({"signal": "triangle"})),
        Query::new("OUT_OF_RANGE", json!({"tickMs": 1})),
        Query::new("TOO_BIG", json!({"capacity": 1_000_000})),
        Query::raw("INVALID_JSON", "{\"signal\":"),
        Query::raw("NOT_AN_OBJECT", "[1, 2]"),
        Query::new("Z", json!({"signal": "sine"})),
    ];
    let results = host.query_data(&queries).await.unwrap();
    assert_eq!(results.len(), queries.len(), "every refId is answered");
    for good in ["A", "Z"] {
        let r = &results[good];
        assert_eq!((r.status, &r.error), (200, &None), "{good}");
        assert!(r.frames[0].channel().is_some(), "{good} streams");
    }
    let expect = |ref_id: &str, needles: &[&str]| {
        let r = &results[ref_id];
        assert_eq!(r.status, 400, "{ref_id}: {r:?}");
        assert!(r.frames.is_empty(), "{ref_id} has no frame");
        let error = r.error.as_deref().unwrap_or_default();
        for needle in needles {
            assert!(
                error.contains(needle),
                "{ref_id}: {error:?} does not mention {needle:?}"
            );
        }
    };
    expect("WRONG_TYPE", &["tickMs", "integer", "10 ..= 3600000"]);
    expect(
        "UNKNOWN_SIGNAL",
        &[
            "signal",
            "\"triangle\"",
            "random_walk",
            "random",
            "sine",
            "square",
            "sawtooth",
            "counter",
        ],
    );
    expect(
        "OUT_OF_RANGE",
        &["tickMs", "out of range", "10 ..= 3600000"],
    );
    expect("TOO_BIG", &["capacity", "1 ..= 100000"]);
    expect("INVALID_JSON", &["invalid JSON"]);
    expect("NOT_AN_OBJECT", &["JSON object"]);

    // The plugin keeps serving.
    let health = host.check_health().await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok);
    let mut live = LivePanel::open(&host, &queries[0], buffer_options(100, None, false))
        .await
        .unwrap();
    live.next_packet(WAIT).await.unwrap().expect("a packet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_are_not_found_fast_and_the_plugin_keeps_serving() {
    let host = start().await;
    let long = "v1/".to_owned() + &"a".repeat(100_000);
    let bad_paths = [
        "",
        "nope",
        "v1",
        "v1/triangle/tick=100/cap=10/backfill=1",
        "v2/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1",
        // not canonical (parameter order), out of range, trailing slash
        "v1/random_walk/spread=1/start=0/tick=100/cap=1000/backfill=1",
        "v1/random_walk/start=0/spread=1/tick=1/cap=1000/backfill=1",
        "v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1/",
        "../../etc/passwd",
        "v1/ünïcode",
        "%2e%2e%2f",
        long.as_str(),
    ];
    let started = Instant::now();
    for path in bad_paths {
        let t = Instant::now();
        let reply = host.subscribe(path).await.unwrap();
        assert_eq!(reply.status, StreamStatus::NotFound, "subscribe {path:.60}");
        assert!(reply.data.is_empty());
        match host.run_stream(path).await {
            Err(HarnessError::Rpc { code, .. }) => assert_eq!(code, tonic::Code::NotFound),
            other => panic!("RunStream on {path:.60} gave {other:?}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{path:.60} took {:?}",
            t.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));

    // A viewer cannot publish into a stream.
    // (The path of a query, made by the plugin's own code, so no query runs first.)
    let spec = ringstream_plugin::query::StreamSpec::from_json_bytes(
        br#"{"signal": "counter", "tickMs": 100, "capacity": 10}"#,
    )
    .unwrap();
    let good = ringstream_plugin::ChannelPath::of(&spec);
    let good = good.as_str();
    let reply = host
        .publish(good, b"{\"data\":{\"values\":[[1]]}}")
        .await
        .unwrap();
    assert_eq!(reply.status, StreamStatus::PermissionDenied);

    // The canonical path streams.
    let mut live = LivePanel::subscribe_only(&host, good, buffer_options(10, None, false))
        .await
        .unwrap();
    assert_eq!(
        live.panel().len(),
        10,
        "a subscriber without a query gets the history"
    );
    live.next_packet(WAIT).await.unwrap().expect("a packet");
    assert_eq!(host.check_health().await.unwrap().status, HealthStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_get_clear_errors_and_signals_keep_streaming() {
    let mut host = start().await;
    let cases: [(&str, DataSourceSettings); 3] = [
        (
            "jsonData",
            DataSourceSettings {
                raw_json_data: Some(b"{not json".to_vec()),
                ..DataSourceSettings::default()
            },
        ),
        (
            "jsonData",
            DataSourceSettings {
                json_data: json!([1, 2]),
                ..DataSourceSettings::default()
            },
        ),
        (
            "mqttUrl",
            DataSourceSettings {
                json_data: json!({"mqttUrl": "http://broker.example"}),
                ..DataSourceSettings::default()
            },
        ),
    ];
    let query = Query::new(
        "A",
        json!({"signal": "counter", "tickMs": 100, "capacity": 10}),
    );
    for (field, settings) in cases {
        host.set_settings(settings);
        let health = host.check_health().await.unwrap();
        assert_eq!(
            health.status,
            HealthStatus::Error,
            "{field}: {}",
            health.message
        );
        assert!(
            health.message.contains(field),
            "{:?} does not name {field}",
            health.message
        );
        // Signals need no connection: a broken setting does not take them down.
        let results = host.query_data(std::slice::from_ref(&query)).await.unwrap();
        assert_eq!(
            results["A"].status, 200,
            "{field}: {:?}",
            results["A"].error
        );
    }
    host.set_settings(DataSourceSettings::default());
    let mut live = LivePanel::open(&host, &query, buffer_options(10, None, false))
        .await
        .unwrap();
    live.next_packet(WAIT).await.unwrap().expect("a packet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_or_health_messages() {
    const SECRET: &str = "s3cr3t-hunter2-do-not-log";
    let mut host = PluginHost::start_with(
        plugin_exe(),
        ringstream_harness::host::HostOptions {
            env: vec![("RUST_LOG".into(), "debug".into())],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    host.set_settings(DataSourceSettings {
        // Port 1 refuses the connection at once, so health fails fast and logs why.
        json_data: json!({"mqttUrl": "mqtt://127.0.0.1:1", "mqttUsername": "grafana"}),
        secure: [("mqttPassword".to_owned(), SECRET.to_owned())].into(),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.unwrap();
    assert_eq!(health.status, HealthStatus::Error, "{}", health.message);
    assert!(!health.message.contains(SECRET), "{}", health.message);
    let query = Query::new("A", json!({"signal": "counter"}));
    assert_eq!(host.query_data(&[query]).await.unwrap()["A"].status, 200);
    let logs = host.logs();
    assert!(!logs.is_empty(), "the plugin logs at debug level");
    assert!(
        logs.iter().all(|line| !line.contains(SECRET)),
        "a log line carries the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_whose_role_is_none_is_answered() {
    let mut host = start().await;
    host.set_user(Some(User {
        login: "nobody".into(),
        role: "None".into(),
    }));
    let query = Query::new("A", json!({"signal": "counter", "capacity": 10}));
    let mut live = LivePanel::open(&host, &query, buffer_options(10, None, false))
        .await
        .unwrap();
    assert_eq!(live.panel().len(), 10);
    live.next_packet(WAIT).await.unwrap().expect("a packet");
    assert_eq!(host.check_health().await.unwrap().status, HealthStatus::Ok);
    // Grafana's own requests carry no user at all.
    host.set_user(None);
    assert_eq!(host.query_data(&[query]).await.unwrap()["A"].status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_something_that_is_not_a_plugin_fails_clearly() {
    let missing = std::env::temp_dir().join("ringstream-no-such-plugin");
    match PluginHost::start(&missing).await {
        Err(HarnessError::Launch { exe, .. }) => assert_eq!(exe, missing),
        other => panic!("{other:?}"),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ringstream-harness-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, script, needle) in [
            (
                "garbage",
                "#!/bin/sh\necho hello\nsleep 5\n",
                "expected `1|2|tcp|ADDR|grpc`",
            ),
            ("exits", "#!/bin/sh\necho oops >&2\nexit 3\n", "exited"),
            (
                "netrpc",
                "#!/bin/sh\necho '1|2|tcp|127.0.0.1:1|netrpc'\nsleep 5\n",
                "grpc",
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            match PluginHost::start(&path).await {
                Err(HarnessError::Handshake(why)) => assert!(why.contains(needle), "{name}: {why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_the_live_panel_as_rows_arrive() {
    let mut options = ringstream_harness::watch::WatchOptions::new(plugin_exe().to_path_buf());
    options.query = json!({"signal": "counter", "tickMs": 100, "capacity": 20});
    options.seconds = Some(1.5);
    options.rows = 3;
    let mut out = Vec::new();
    let summary = ringstream_harness::watch::run(&options, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("watching v1/counter/"), "{header}");
    assert!(header.contains("20 rows of history"), "{header}");
    let rows: Vec<&str> = lines.collect();
    assert!(summary.packets >= 1, "{summary:?}");
    assert_eq!(rows.len(), 3 + summary.rows_received, "{text}");
    // `2023-11-14T22:13:20.100Z  value=7`, one line per row, the counter counting up.
    let values: Vec<f64> = rows
        .iter()
        .map(|l| {
            let (time, value) = l.split_once("  value=").unwrap();
            assert!(time.ends_with('Z') && time.len() == 24, "{l}");
            value.parse().unwrap()
        })
        .collect();
    assert!(values.windows(2).all(|w| w[1] == w[0] + 1.0), "{values:?}");
}

#[test]
fn the_watch_command_runs_the_plugin_and_stops_by_itself() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ringstream-harness"))
        .args(["watch", "--plugin"])
        .arg(plugin_exe())
        .args([
            "--seconds",
            "1",
            "--rows",
            "2",
            "--query",
            r#"{"signal":"sawtooth","tickMs":100}"#,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("watching v1/sawtooth/"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.contains("value=")).count() >= 3,
        "{stdout}"
    );
    assert!(stderr.contains("watched "), "{stderr}");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_ringstream-harness"))
        .args(["watch", "--frobnicate"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not take `--frobnicate`"));
}
