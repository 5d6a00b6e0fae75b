//! `cargo bench -p ringstream-harness --bench engines`: the engine sources through the real
//! `gpx_ringstream` (release build), as Grafana runs it. Figures go to docs/PERFORMANCE.md
//! ("Engines").
//!
//! 1. **QueryData of a 100 000-message range**: a JetStream stream holding `RANGE` messages
//!    of 20-field JSON (the MQTT benchmark's payloads); QueryData with capacity and
//!    maxDataPoints 100 000 over their time range, read from the stream: the median of
//!    `RUNS` calls. Baseline in the same run: the same call on a 100 000-row signal ring.
//! 2. **Engine → packets**: a publisher (its own thread) sends `MESSAGES` payloads to a
//!    subject as fast as it can; the plugin reads them (JetStream: an ordered consumer; core
//!    NATS: a subscription) and one RunStream (tick 100 ms) sends them as packets, whose
//!    rows are counted. Rate = rows that reached packets / time from the first publish to
//!    the last row. Publisher, server and plugin share the machine's cores.
//!
//! The same two for Redis Streams (XREVRANGE; one XREAD BLOCK reader, entries XADDed in
//! pipelines of 1 000).
//!
//! Options (environment): `MESSAGES` (default 200 000), `RANGE` (100 000), `RUNS` (5).
//! Needs /usr/sbin/nats-server and /usr/bin/redis-server (`cargo xtask ci` installs them).

#[path = "../../plugin/benches/common/payload20.rs"]
mod payload20;
#[path = "../tests/harness/plugin_exe.rs"]
mod plugin_exe;
#[path = "../tests/harness/servers.rs"]
#[allow(dead_code)] // the tests use more of it than the benchmark
mod servers;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use ringstream_harness::host::{DataSourceSettings, HostOptions, PluginHost, Query, RunStream};
use serde_json::json;

use servers::{now_ms, NatsServer, RedisServer};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let (messages, range, runs) = (
        env("MESSAGES", 200_000),
        env("RANGE", 100_000),
        env("RUNS", 5),
    );
    let pool: Vec<Vec<u8>> = (0..1000).map(payload20::payload).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = NatsServer::start();
        let client = server.client().await;
        let js = jetstream::new(client.clone());
        js.create_stream(stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            ..stream::Config::default()
        })
        .await
        .expect("the stream");
        let mut host = PluginHost::start_with(
            plugin_exe::plugin_exe(),
            HostOptions {
                // What the plugin can do, not the per-connection budget (50 000/s by default).
                env: vec![
                    (
                        "GF_PLUGIN_FEED_MESSAGES_PER_SECOND".into(),
                        "10000000".into(),
                    ),
                    // 100 000 rows of 20 fields pass the default 16 MiB response limit.
                    ("GF_PLUGIN_MAX_RESPONSE_MB".into(), "256".into()),
                ],
                call_timeout: Duration::from_secs(120),
                ..HostOptions::default()
            },
        )
        .await
        .expect("the plugin starts");
        host.set_settings(DataSourceSettings {
            uid: "bench".into(),
            json_data: json!({ "natsUrl": server.url() }),
            ..DataSourceSettings::default()
        });
        println!("engines: the real plugin (release), nats-server -js on loopback");
        query_range(&host, &js, &pool, range, runs).await;
        to_packets(&host, &server, &pool, messages, true).await;
        to_packets(&host, &server, &pool, messages, false).await;
        redis(&pool, messages, range, runs).await;
    });
}

/// A payload's 20 fields as a Redis stream entry's field/value pairs.
fn pairs(payload: &[u8]) -> Vec<(String, String)> {
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(payload).expect("JSON");
    json.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// XADDs `n` entries to `key`, 1 000 a pipeline.
fn xadd(conn: &mut redis::Connection, key: &str, entries: &[Vec<(String, String)>], n: usize) {
    for start in (0..n).step_by(1000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 1000).min(n) {
            let cmd = pipe.cmd("XADD").arg(key).arg("*");
            for (k, v) in &entries[i % entries.len()] {
                cmd.arg(k).arg(v);
            }
            cmd.ignore();
        }
        let () = pipe.query(conn).expect("XADD");
    }
}

/// Parts 1 and 2 for Redis Streams: QueryData of a `range`-entry stream, and a flood of
/// XADDs into packets.
async fn redis(pool: &[Vec<u8>], n: usize, range: usize, runs: usize) {
    let server = RedisServer::start();
    let entries: Vec<Vec<(String, String)>> = pool.iter().map(|p| pairs(p)).collect();
    let mut conn = server.client();
    let from = now_ms() - 1_000;
    xadd(&mut conn, "bench:range", &entries, range);
    let mut host = PluginHost::start_with(
        plugin_exe::plugin_exe(),
        HostOptions {
            env: vec![("GF_PLUGIN_MAX_RESPONSE_MB".into(), "256".into())],
            call_timeout: Duration::from_secs(120),
            ..HostOptions::default()
        },
    )
    .await
    .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "bench".into(),
        json_data: json!({ "redisUrl": server.url() }),
        ..DataSourceSettings::default()
    });
    let query = Query::new(
        "A",
        json!({"source": "redis", "key": "bench:range", "capacity": 100_000}),
    )
    .with_time_range(from, now_ms() + 600_000)
    .with_max_data_points(100_000);
    let mut took = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let answer = host
            .query_data(std::slice::from_ref(&query))
            .await
            .expect("QueryData");
        took.push(started.elapsed());
        let a = &answer["A"];
        assert_eq!(a.error, None);
        println!("    (redis range: {} rows)", a.frames[0].len());
    }
    println!(
        "  QueryData of {range} Redis stream entries (20 fields): median {:.0} ms of {runs}",
        median(took).as_secs_f64() * 1e3
    );

    let answer = host
        .query_data(&[Query::new(
            "A",
            json!({"source": "redis", "key": "bench:flood", "tickMs": 100, "capacity": 100_000,
                   "timePath": "ts"}),
        )])
        .await
        .expect("QueryData");
    let channel = answer["A"].frames[0]
        .channel()
        .expect("a channel")
        .to_owned();
    let path = ringstream_harness::host::channel_path(&channel, "bench")
        .expect("our channel")
        .to_owned();
    let mut packets = host.run_stream(&path).await.expect("RunStream");
    let _schema = packets.next_within(Duration::from_secs(10)).await;
    let started = Instant::now();
    let publisher = std::thread::spawn(move || {
        let mut conn = server.client();
        xadd(&mut conn, "bench:flood", &entries, n);
        server // kept alive until the rows are counted
    });
    count_rows(&mut packets, n, started, "Redis stream (XREAD BLOCK)").await;
    drop(publisher.join());
}

/// Part 1: QueryData of a `range`-message JetStream range, and of a ring that size.
async fn query_range(
    host: &PluginHost,
    js: &jetstream::Context,
    pool: &[Vec<u8>],
    range: usize,
    runs: usize,
) {
    let from = now_ms() - 1_000;
    for chunk in pool
        .iter()
        .cycle()
        .take(range)
        .collect::<Vec<_>>()
        .chunks(1000)
    {
        let mut acks = Vec::with_capacity(chunk.len());
        for p in chunk {
            acks.push(
                js.publish("bench.range", (*p).clone().into())
                    .await
                    .expect("publish"),
            );
        }
        for ack in acks {
            ack.await.expect("stored");
        }
    }
    // Past the newest row either way: a ring keeps moving while it is measured.
    let to = now_ms() + 600_000;
    let time = |json: serde_json::Value, want: usize| {
        let query = Query::new("A", json)
            .with_time_range(from - 200_000_000, to)
            .with_max_data_points(100_000);
        async move {
            let mut took = Vec::new();
            for _ in 0..runs {
                let started = Instant::now();
                let answer = host
                    .query_data(std::slice::from_ref(&query))
                    .await
                    .expect("QueryData");
                took.push(started.elapsed());
                let a = &answer["A"];
                assert_eq!(a.error, None);
                // A ring without a RunStream answers its published rows: what it held at
                // creation, less those pushed out since.
                let rows = a.frames[0].len();
                assert!(
                    rows <= want && rows >= want * 9 / 10,
                    "{rows} rows of {want}"
                );
            }
            median(took)
        }
    };
    // The ring: a signal channel of 100 000 rows (its first QueryData makes the history).
    let ring = json!({"signal": "counter", "tickMs": 10, "capacity": 100_000});
    let _ = time(ring.clone(), 100_000).await;
    let ring_time = time(ring, 100_000).await;
    let engine = json!({"source": "nats", "subject": "bench.range", "stream": "BENCH",
                        "capacity": 100_000});
    let engine_time = time(engine, range.min(100_000)).await;
    println!(
        "  QueryData of {range} JetStream messages (20 fields): median {:.0} ms of {runs}; \
         a 100 000-row ring (baseline, same run): {:.0} ms",
        engine_time.as_secs_f64() * 1e3,
        ring_time.as_secs_f64() * 1e3
    );
}

/// Counts the rows of `packets` until `n` arrived (or none came for 20 s) and prints the rate
/// since `started`.
async fn count_rows(packets: &mut RunStream, n: usize, started: Instant, what: &str) {
    let (mut received, mut count) = (0usize, 0usize);
    while received < n {
        match packets.next_within(Duration::from_secs(20)).await {
            Ok(Some(packet)) => {
                received += packet.rows();
                count += 1;
            }
            _ => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {what} -> rows -> packets: {:>9.0} msg/s ({received} of {n} rows in {count} \
         packets, {secs:.2} s)",
        received as f64 / secs
    );
}

/// Part 2: a flood into a subject, through the plugin, out as RunStream packets.
async fn to_packets(
    host: &PluginHost,
    server: &NatsServer,
    pool: &[Vec<u8>],
    n: usize,
    jetstream: bool,
) {
    let subject = if jetstream { "bench.js" } else { "core.flood" };
    let mut query = json!({"source": "nats", "subject": subject, "tickMs": 100,
                           "capacity": 100_000, "timePath": "ts"});
    if jetstream {
        query["stream"] = json!("BENCH");
    }
    let answer = host
        .query_data(&[Query::new("A", query)])
        .await
        .expect("QueryData");
    let channel = answer["A"].frames[0]
        .channel()
        .expect("a channel")
        .to_owned();
    let path = ringstream_harness::host::channel_path(&channel, "bench")
        .expect("our channel")
        .to_owned();
    let mut packets = host.run_stream(&path).await.expect("RunStream");
    let _schema = packets.next_within(Duration::from_secs(10)).await;
    let url = server.url();
    let pool = pool.to_vec();
    let started = Instant::now();
    let publisher = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let client = async_nats::connect(url).await.expect("publisher connects");
            for i in 0..n {
                client
                    .publish(subject, pool[i % pool.len()].clone().into())
                    .await
                    .expect("publish");
            }
            client.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
    });
    let what = if jetstream {
        "JetStream (ordered consumer)"
    } else {
        "core NATS subject"
    };
    count_rows(&mut packets, n, started, what).await;
    drop(publisher); // detached: it ends with the process
}
