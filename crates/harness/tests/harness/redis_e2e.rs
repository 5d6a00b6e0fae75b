//! End-to-end for the Redis source: the real `gpx_ringstream` executable, a real
//! `redis-server` on a free loopback port ([`RedisServer`]), entries written with the
//! `redis` client (XADD, PUBLISH), and what a panel shows.
//! `cargo xtask ci` installs redis-server when it is missing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringstream_harness::host::{DataSourceSettings, HealthStatus, LivePanel, PluginHost, Query};
use ringstream_harness::panel::buffer_options;
use ringstream_harness::query_frame::{Cell, QueryFrame};
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::{now_ms, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

/// XADDs `n i` to `key` for each `i` of `ns`.
pub(crate) fn add(conn: &mut redis::Connection, key: &str, ns: std::ops::Range<i64>) {
    for n in ns {
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg("*")
            .arg("n")
            .arg(n)
            .query(conn)
            .expect("XADD");
    }
}

pub(crate) async fn plugin_on(server: &RedisServer, uid: &str) -> PluginHost {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: uid.into(),
        json_data: json!({ "redisUrl": server.url() }),
        ..DataSourceSettings::default()
    });
    host
}

fn numbers(panel: &ringstream_harness::panel::Panel) -> Vec<f64> {
    panel.numbers("n").unwrap_or_default()
}

fn upto(n: i64) -> Vec<f64> {
    (0..n).map(|n| n as f64).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_from_before_the_plugin_started_fill_the_range_and_stream_on_without_gap_or_repeat()
{
    let server = RedisServer::start();
    let mut conn = server.client();
    let before_start = now_ms();
    add(&mut conn, "sensor:1", 0..40);
    add(&mut conn, "sensor:2", 0..3); // another stream: not this query's

    let host = plugin_on(&server, "e2e-redis").await;
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    for part in ["redis-server 7", "2 streams: sensor:1, sensor:2"] {
        assert!(health.message.contains(part), "{}", health.message);
    }

    // A small capacity: the newest 10 of the range.
    let query = Query::new(
        "A",
        json!({"source": "redis", "key": "sensor:1", "capacity": 10, "tickMs": 50}),
    )
    .with_time_range(before_start - 60_000, now_ms() + 60_000)
    .with_max_data_points(1000);
    let result = host
        .query_data(std::slice::from_ref(&query))
        .await
        .expect("QueryData");
    assert_eq!(result["A"].error, None);
    let frame = &result["A"].frames[0];
    assert_eq!(
        frame.numbers("n").unwrap_or_default(),
        (30..40).map(f64::from).collect::<Vec<_>>()
    );

    // A writer adds entries all the while the panel opens: whatever QueryData reads from the
    // stream and whatever RunStream sends, each entry is shown once, in order.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let writing = Arc::clone(&writing);
        let mut conn = server.client();
        std::thread::spawn(move || {
            for n in 40..140 {
                add(&mut conn, "sensor:1", n..n + 1);
                std::thread::sleep(Duration::from_millis(5));
            }
            writing.store(false, Ordering::Relaxed);
        })
    };
    let wide = Query::new(
        "B",
        json!({"source": "redis", "key": "sensor:1", "capacity": 1000, "tickMs": 50}),
    )
    .with_time_range(before_start - 60_000, now_ms() + 60_000)
    .with_max_data_points(1000);
    let mut live = LivePanel::open(&host, &wide, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    assert!(
        writing.load(Ordering::Relaxed),
        "the writer was still writing when the panel had opened"
    );
    writer.join().expect("the writer");
    live.wait_until(WAIT, |p| p.len() >= 140)
        .await
        .unwrap_or_else(|e| panic!("the live entries: {e}\n{}", live.panel().to_table_tail(5)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = live.next_packet(Duration::from_millis(200)).await;
    assert_eq!(
        numbers(live.panel()),
        upto(140),
        "{}",
        live.panel().to_table_tail(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_no_entry_and_repeats_none() {
    let mut server = RedisServer::start_with(&["--appendonly", "yes"]);
    let mut conn = server.client();
    let before_start = now_ms();
    add(&mut conn, "line:1", 0..10);
    let host = plugin_on(&server, "e2e-redis-restart").await;
    let query = Query::new(
        "A",
        json!({"source": "redis", "key": "line:1", "capacity": 1000, "tickMs": 50}),
    )
    .with_time_range(before_start - 60_000, now_ms() + 60_000)
    .with_max_data_points(1000);
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    assert_eq!(numbers(live.panel()), upto(10));
    add(&mut conn, "line:1", 10..15);
    live.wait_until(WAIT, |p| p.len() >= 15)
        .await
        .expect("the live entries");

    // Killed; the entries are on disk (appendfsync always). Written while the plugin is
    // reconnecting, they are read from where it stopped.
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let mut conn = server.client();
    add(&mut conn, "line:1", 15..20);
    live.wait_until(Duration::from_secs(20), |p| p.len() >= 20)
        .await
        .unwrap_or_else(|_| panic!("after the restart: {}", live.panel().to_table_tail(5)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = live.next_packet(Duration::from_millis(200)).await;
    assert_eq!(numbers(live.panel()), upto(20), "each entry once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_pattern_gives_one_series_per_channel() {
    let server = RedisServer::start();
    let mut conn = server.client();
    let host = plugin_on(&server, "e2e-redis-pubsub").await;
    let query = Query::new(
        "A",
        json!({"source": "redis", "channel": "room.*", "tickMs": 50}),
    );
    let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false))
        .await
        .expect("the panel opens");
    // The subscription is made when the channel's producer starts: publish until it hears.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut i = 0;
    while live.panel().len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message reached the panel"
        );
        for channel in ["room.a", "room.b", "hall.c"] {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(json!({ "t": i }).to_string())
                .query(&mut conn)
                .expect("PUBLISH");
        }
        i += 1;
        let _ = live
            .wait_until(Duration::from_millis(200), |p| p.len() >= 4)
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
    assert!(panel.column("t hall.c").is_none(), "not the pattern's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_values_keep_their_types_and_json_fields_are_flattened() {
    let server = RedisServer::start();
    let mut conn = server.client();
    let before = now_ms();
    let _: String = redis::cmd("XADD")
        .arg("plant:7")
        .arg("*")
        .arg(&[
            ("temp", "21.5"),
            ("ok", "true"),
            ("site", "north"),
            ("code", "007"),
            ("meta", r#"{"unit":"C","level":2}"#),
        ])
        .query(&mut conn)
        .expect("XADD");
    let host = plugin_on(&server, "e2e-redis-types").await;
    let query = Query::new("A", json!({"source": "redis", "key": "plant:7"}))
        .with_time_range(before - 60_000, now_ms() + 60_000);
    let result = host.query_data(&[query]).await.expect("QueryData");
    assert_eq!(result["A"].error, None);
    let frame: &QueryFrame = &result["A"].frames[0];
    let cell = |name: &str| {
        frame
            .field(name)
            .and_then(|f| f.values.first().cloned())
            .unwrap_or_else(|| panic!("{name}: {frame:?}"))
    };
    assert_eq!(cell("temp"), Cell::Number(21.5));
    assert_eq!(cell("ok"), Cell::Boolean(true));
    assert_eq!(cell("site"), Cell::String("north".into()));
    assert_eq!(cell("code"), Cell::String("007".into()));
    assert_eq!(cell("meta.unit"), Cell::String("C".into()));
    assert_eq!(cell("meta.level"), Cell::Number(2.0));
    // The row's time is the stream id's.
    let Cell::Time(ns) = cell("time") else {
        panic!("a time")
    };
    assert!((before..=now_ms()).contains(&(ns / 1_000_000)), "{ns}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_authentication_failure_that_never_shows_it() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let mut host = plugin_on(&server, "e2e-redis-auth").await;
    host.set_settings(DataSourceSettings {
        uid: "e2e-redis-auth".into(),
        json_data: json!({ "redisUrl": server.url() }),
        secure: [("redisPassword".to_owned(), "wrong-pass-123".to_owned())].into(),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Error, "{}", health.message);
    assert!(
        health.message.contains("authentication failed"),
        "{}",
        health.message
    );
    assert!(!health.message.contains("wrong-pass-123"));
    // A query gets the link's reason as a notice or an error, never the password.
    let query = Query::new("A", json!({"source": "redis", "key": "x"}))
        .with_time_range(now_ms() - 60_000, now_ms());
    let result = host.query_data(&[query]).await.expect("QueryData");
    let answer = format!("{:?}", result["A"]);
    assert!(!answer.contains("wrong-pass-123"), "{answer}");
    assert!(
        !host.logs().join("\n").contains("wrong-pass-123"),
        "the logs hold the password"
    );

    host.set_settings(DataSourceSettings {
        uid: "e2e-redis-auth".into(),
        json_data: json!({ "redisUrl": server.url() }),
        secure: [("redisPassword".to_owned(), "s3cret-pass".to_owned())].into(),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth answers");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    assert!(
        health.message.contains("with a password"),
        "{}",
        health.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_discovers_stream_keys_and_a_key_of_another_type_is_named() {
    let server = RedisServer::start();
    let mut conn = server.client();
    add(&mut conn, "sensor:1", 0..1);
    add(&mut conn, "sensor:2", 0..1);
    add(&mut conn, "other", 0..1);
    let _: () = redis::cmd("SET")
        .arg("sensor:text")
        .arg("hello")
        .query(&mut conn)
        .expect("SET");
    let host = plugin_on(&server, "e2e-redis-topics").await;
    let (status, body) = host
        .call_resource("GET", "topics?source=redis&filter=sensor%3A*&limit=10", b"")
        .await
        .expect("CallResource");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["topics"],
        json!(["sensor:1", "sensor:2"]),
        "streams only"
    );
    assert_eq!(body["truncated"], false);
    let (_, body) = host
        .call_resource("GET", "topics?source=redis&limit=1", b"")
        .await
        .expect("CallResource");
    assert_eq!(body["topics"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["truncated"], true);
    let (status, body) = host
        .call_resource("GET", "topics?source=redis&filter=a%20b", b"")
        .await
        .expect("CallResource");
    assert_eq!(
        (status, body["field"].clone()),
        (400, json!("filter")),
        "{body}"
    );

    let query = Query::new("A", json!({"source": "redis", "key": "sensor:text"}))
        .with_time_range(now_ms() - 60_000, now_ms());
    let result = host.query_data(&[query]).await.expect("QueryData");
    let error = result["A"].error.clone().unwrap_or_default();
    assert!(error.contains("holds a string, not a stream"), "{error}");
}
