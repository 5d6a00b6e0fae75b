//! Hostile load on the engine sources, through the real executable and a real nats-server
//! or redis-server:
//! subjects a viewer may not choose, a stream larger than any answer may be, a server that
//! accepts connections and never speaks. Each checks that the answer is bounded and named
//! and that a victim — another org's panel — keeps streaming.

use std::time::{Duration, Instant};

use ringstream_harness::host::{
    Caller, DataSourceSettings, HealthStatus, LivePanel, PluginHost, Query,
};
use ringstream_harness::panel::buffer_options;
use serde_json::json;

use crate::nats_e2e::make_stream;
use crate::plugin_exe::plugin_exe;
use crate::servers::{now_ms, NatsServer, RedisServer};

const WAIT: Duration = Duration::from_secs(20);

async fn plugin(json_data: serde_json::Value) -> PluginHost {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "engines".into(),
        json_data,
        ..DataSourceSettings::default()
    });
    host
}

/// A panel of another org on a signal: it must keep getting rows.
async fn victim(host: &PluginHost) -> (Caller, LivePanel) {
    let caller = host
        .caller_as(
            DataSourceSettings {
                org_id: 2,
                uid: "victim".into(),
                ..DataSourceSettings::default()
            },
            None,
        )
        .expect("a caller");
    let query = Query::new(
        "V",
        json!({"signal": "counter", "tickMs": 50, "capacity": 1000}),
    );
    let panel = LivePanel::open_as(&caller, &query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel opens");
    (caller, panel)
}

async fn keeps_streaming(panel: &mut LivePanel, what: &str) {
    let want = (panel.panel().len() + 10).min(1000);
    panel
        .wait_until(WAIT, |p| p.len() >= want)
        .await
        .unwrap_or_else(|e| panic!("{what}: the victim stopped streaming: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_of_other_clients_and_of_the_server_are_refused_by_name() {
    let server = NatsServer::start();
    let host = plugin(json!({"natsUrl": server.url(), "natsAllow": "plant.>"})).await;
    let queries: Vec<Query> = [
        ("A", "_INBOX.x.y", "_INBOX"),
        ("B", "$JS.API.>", "$JS"),
        ("C", "$SYS.ACCOUNT.>", "$SYS"),
        ("D", "office.door", "natsAllow"),
        ("E", ">", "natsAllow"),
    ]
    .iter()
    .map(|(id, subject, _)| Query::new(id, json!({"source": "nats", "subject": subject})))
    .collect();
    let answers = host.query_data(&queries).await.expect("QueryData");
    for (id, subject, rule) in [
        ("A", "_INBOX.x.y", "_INBOX"),
        ("B", "$JS.API.>", "$JS"),
        ("C", "$SYS.ACCOUNT.>", "$SYS"),
        ("D", "office.door", "natsAllow"),
        ("E", ">", "natsAllow"),
    ] {
        let e = answers[id].error.clone().unwrap_or_default();
        assert!(e.contains("subject") && e.contains(rule), "{subject}: {e}");
    }
    let ok = host
        .query_data(&[Query::new(
            "F",
            json!({"source": "nats", "subject": "plant.a"}),
        )])
        .await
        .unwrap();
    assert_eq!(ok["F"].error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_larger_than_any_answer_is_read_within_bounds_while_others_stream() {
    let server = NatsServer::start();
    let client = server.client().await;
    let js = make_stream(&client, "BIG", &["big.>"]).await;
    let from = now_ms() - 1_000;
    // 150 000 messages of 20 fields, acknowledged in pipelined batches.
    let payload = {
        let fields: serde_json::Map<String, serde_json::Value> =
            (0..20).map(|i| (format!("f{i}"), json!(i * 7))).collect();
        serde_json::Value::Object(fields).to_string()
    };
    for chunk in 0..150 {
        let mut acks = Vec::with_capacity(1000);
        for _ in 0..1000 {
            acks.push(
                js.publish("big.x", payload.clone().into())
                    .await
                    .expect("publish"),
            );
        }
        for ack in acks {
            ack.await.unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        }
    }
    let mut host = plugin(json!({"natsUrl": server.url()})).await;
    let (_victim, mut panel) = victim(&host).await;
    let query = Query::new(
        "A",
        json!({"source": "nats", "subject": "big.x", "stream": "BIG", "capacity": 100000}),
    )
    .with_time_range(from, now_ms() + 1_000)
    .with_max_data_points(100_000);
    let started = Instant::now();
    let answers = host.query_data(std::slice::from_ref(&query)).await.unwrap();
    let took = started.elapsed();
    let a = &answers["A"];
    match &a.error {
        // The whole answer would break the response limit: named, with what to change.
        Some(e) => assert!(e.contains("MiB") && e.contains("max_response_mb"), "{e}"),
        None => {
            let rows = a.frames[0].len();
            assert!(rows <= 100_000, "{rows} rows");
            assert!(rows > 0);
        }
    }
    // Bounded by history_seconds (10 s) plus encoding, on a loaded 2-core machine.
    assert!(took < Duration::from_secs(60), "the range took {took:?}");
    keeps_streaming(&mut panel, "after the big range").await;
    assert!(host.is_running());
    if let Some((_, peak)) = host.memory() {
        assert!(peak < 1 << 30, "peak {} MiB", peak >> 20);
    }
}

/// A port that accepts connections and never writes (clients wait for a greeting or a
/// reply), for as long as the returned thread runs.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = hole.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in hole.incoming().take(64) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(120));
    });
    (port, held)
}

/// Slow queries of `source` on a silent server, more than the plugin has workers: each
/// times out by name, and another org's QueryData and panel carry on meanwhile.
async fn silent(json_data: serde_json::Value, query: impl Fn(usize) -> serde_json::Value) {
    let host = plugin(json_data).await;
    let (victim, mut panel) = victim(&host).await;
    let mut attacks = Vec::new();
    for i in 0..6 {
        let caller = host.caller().unwrap();
        let q = Query::new("A", query(i));
        attacks.push(tokio::spawn(async move {
            let started = Instant::now();
            let answer = caller.query_data(&[q]).await;
            (answer, started.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let other = victim
        .query_data(&[Query::new("B", json!({"signal": "sine"}))])
        .await
        .unwrap();
    assert_eq!(other["B"].error, None);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "another org waited {:?} behind a silent server",
        started.elapsed()
    );
    keeps_streaming(&mut panel, "while the server is silent").await;
    for attack in attacks {
        let (answer, took) = attack.await.unwrap();
        let e = answer.unwrap()["A"].error.clone().unwrap_or_default();
        assert!(e.contains("timed out"), "{e}");
        assert!(took < Duration::from_secs(60), "{took:?}");
    }
    let health = host.check_health().await.unwrap();
    assert_eq!(health.status, HealthStatus::Error, "{}", health.message);
    let m = &health.message;
    assert!(m.contains("timed out"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_that_never_speaks_times_out_by_name_and_stalls_no_one_else() {
    let (port, held) = silent_server();
    silent(
        json!({"natsUrl": format!("nats://127.0.0.1:{port}")}),
        |i| json!({"source": "nats", "subject": format!("s.{i}"), "stream": "S"}),
    )
    .await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_server_that_never_answers_times_out_by_name_and_stalls_no_one_else() {
    let (port, held) = silent_server();
    silent(
        json!({"redisUrl": format!("redis://127.0.0.1:{port}")}),
        |i| json!({"source": "redis", "key": format!("k:{i}")}),
    )
    .await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stream_larger_than_any_answer_is_read_within_bounds() {
    let server = RedisServer::start();
    let mut conn = server.client();
    let from = now_ms() - 1_000;
    // 150 000 entries of 20 fields, pipelined.
    for _ in 0..150 {
        let mut pipe = redis::pipe();
        for _ in 0..1000 {
            let cmd = pipe.cmd("XADD").arg("big").arg("*");
            for f in 0..20 {
                cmd.arg(format!("f{f}")).arg(f * 7);
            }
            cmd.ignore();
        }
        let () = pipe.query(&mut conn).expect("XADD");
    }
    let mut host = plugin(json!({"redisUrl": server.url()})).await;
    let (_victim, mut panel) = victim(&host).await;
    let query = Query::new(
        "A",
        json!({"source": "redis", "key": "big", "capacity": 100000}),
    )
    .with_time_range(from, now_ms() + 1_000)
    .with_max_data_points(100_000);
    let started = Instant::now();
    let answers = host.query_data(std::slice::from_ref(&query)).await.unwrap();
    let took = started.elapsed();
    match &answers["A"].error {
        Some(e) => assert!(e.contains("MiB") && e.contains("max_response_mb"), "{e}"),
        None => {
            // At most the capacity; a read the time limit cut says so by name.
            let frame = &answers["A"].frames[0];
            let rows = frame.len();
            assert!(rows <= 100_000, "{rows} rows");
            let meta = frame.meta.clone().unwrap_or_default().to_string();
            assert!(
                rows > 0 || meta.contains("history_seconds"),
                "{rows} rows: {meta}"
            );
        }
    }
    assert!(took < Duration::from_secs(60), "the range took {took:?}");
    keeps_streaming(&mut panel, "after the big range").await;
    assert!(host.is_running());
    if let Some((_, peak)) = host.memory() {
        assert!(peak < 1 << 30, "peak {} MiB", peak >> 20);
    }
}
