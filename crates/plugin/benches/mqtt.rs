//! `cargo bench -p ringstream-plugin --bench mqtt`: the MQTT path, messages per second for
//! 20-field JSON payloads. Figures go to docs/PERFORMANCE.md ("MQTT path").
//!
//! 1. **Broker to packets**: a real mosquitto on a free loopback port; a publisher (rumqttc,
//!    QoS 0, its own thread and runtime) sends `MESSAGES` payloads as fast as it can; the
//!    plugin's hub reads them through its shared MQTT connection into one channel, and one
//!    RunStream (tick 100 ms) encodes them into packets, whose rows are counted. Rate = rows
//!    that reached packets / time from the first publish to the last row. Publisher, broker
//!    and plugin share the machine's cores, as they would on one host.
//! 2. **Rows and packets only** (no network): the same payloads through `RowBuilder` into a
//!    ring, and a `StreamEncoder` packet every 1 000 rows: the plugin's own cost per message.
//!
//! Options (environment): `MESSAGES` (default 200 000).

#[path = "../tests/plugin/broker.rs"]
#[allow(dead_code)] // the tests use more of it than the benchmark
mod broker;
#[path = "common/payload20.rs"]
mod payload20;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ringstream_plugin::budget::Requester;
use ringstream_plugin::channel::ChannelPath;
use ringstream_plugin::frame::json::StreamEncoder;
use ringstream_plugin::frame::{AppendMode, RingFrame};
use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::limits::Limits;
use ringstream_plugin::query::StreamSpec;
use ringstream_plugin::settings::{InstanceKey, Settings};
use ringstream_plugin::source::payload::RowBuilder;
use rumqttc::{AsyncClient, MqttOptions, QoS};

const TOPIC: &str = "bench/plant/line-1";

/// Rows in a DataFrameJSON packet: the length of its first column.
fn rows_in(packet: &[u8]) -> usize {
    let text = std::str::from_utf8(packet).expect("JSON");
    let Some(start) = text.find("\"values\":[[") else {
        return 0;
    };
    let first = &text[start + 11..];
    let end = first.find(']').expect("a column");
    if end == 0 {
        0
    } else {
        first[..end].matches(',').count() + 1
    }
}

fn main() {
    let n: usize = std::env::var("MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let pool: Vec<Vec<u8>> = (0..1000).map(payload20::payload).collect();
    let bytes = pool.iter().map(Vec::len).sum::<usize>() / pool.len();
    println!("MQTT path, {n} messages of 20-field JSON (~{bytes} bytes each)");
    rows_only(n, &pool);
    broker_to_packets(n, &pool);
}

/// Part 2: RowBuilder + StreamEncoder, no network.
fn rows_only(n: usize, pool: &[Vec<u8>]) {
    let mut ring = RingFrame::try_new(100_000, AppendMode::Tail).expect("ring");
    for f in RowBuilder::initial_fields() {
        ring.add_field(f).expect("field");
    }
    let mut rows = RowBuilder::new(Some("ts".into()), None, false);
    let mut encoder = StreamEncoder::starting_at(0);
    let mut out = String::new();
    let mut sent = 0usize;
    let started = Instant::now();
    for i in 0..n {
        rows.ingest(&mut ring, TOPIC, &pool[i % pool.len()], 0);
        if i % 1000 == 999 {
            sent += encoder.next_packet(&ring, &mut out).map_or(0, |p| p.rows);
        }
    }
    sent += encoder.next_packet(&ring, &mut out).map_or(0, |p| p.rows);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(sent, n, "every row encoded");
    assert_eq!(ring.fields().len(), 20, "time + 19 payload fields");
    println!(
        "  payload -> rows -> packets (one core, no network): {:>9.0} msg/s ({:.2} us/msg)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

/// Part 1: mosquitto -> the plugin's MQTT connection -> ring -> RunStream packets.
fn broker_to_packets(n: usize, pool: &[Vec<u8>]) {
    // Mosquitto drops QoS 0 messages for a subscriber more than 1 000 behind
    // (`max_queued_messages`); a flood outruns any subscriber for a while, so the benchmark
    // lets the broker queue them all and measures how fast the plugin drains them.
    let broker = broker::Broker::start(&broker::BrokerOptions {
        extra: "max_queued_messages 0\nmax_queued_bytes 0\n".into(),
        ..broker::BrokerOptions::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Unthrottled: the benchmark measures what the plugin can do, not the
        // `feed_messages_per_second` budget of one connection.
        let hub = StreamHub::new(HubConfig::new(Limits {
            feed_messages_per_second: 10_000_000,
            ..Limits::default()
        }));
        let key = InstanceKey {
            org_id: 1,
            uid: "bench".into(),
            updated_ms: 1,
        };
        let settings = Arc::new(
            Settings::parse(
                key,
                format!(r#"{{"mqttUrl":"{}"}}"#, broker.url()).as_bytes(),
                &Default::default(),
            )
            .expect("settings"),
        );
        let spec = StreamSpec::from_json_bytes(
            format!(
                r#"{{"source":"mqtt","topic":"{TOPIC}","timePath":"ts","tickMs":100,"capacity":100000}}"#
            )
            .as_bytes(),
        )
        .expect("query");
        let path = ChannelPath::of(&spec);
        let channel = hub
            .open_in(&Requester::system(), Some(&settings), &path, &spec)
            .expect("channel");
        let mut packets = Box::pin(channel.run_stream());

        // A retained warm-up message shows that the plugin's subscription is live.
        let mut warm = broker::Publisher::connect(broker.port, None).await;
        warm.publish(TOPIC, pool[0].clone(), true).await;
        let mut warmed = 0;
        while warmed == 0 {
            let packet = tokio::time::timeout(Duration::from_secs(10), packets.next())
                .await
                .expect("the warm-up message arrives")
                .expect("stream open")
                .expect("packet");
            warmed = rows_in(&packet);
        }

        // The publisher: its own OS thread and runtime, QoS 0, as fast as the broker takes it.
        let port = broker.port;
        let pool = pool.to_vec();
        let started = Instant::now();
        let publisher = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut options = MqttOptions::new("bench-publisher", "127.0.0.1", port);
                options.set_max_packet_size(1 << 20, 1 << 20);
                let (client, mut eventloop) = AsyncClient::new(options, 10_000);
                let driver = tokio::spawn(async move {
                    while eventloop.poll().await.is_ok() {}
                });
                for i in 0..n {
                    client
                        .publish(TOPIC, QoS::AtMostOnce, false, pool[i % pool.len()].clone())
                        .await
                        .expect("publish");
                }
                // Let the event loop flush what is queued, then leave.
                tokio::time::sleep(Duration::from_secs(30)).await;
                driver.abort();
            });
        });

        let mut received = 0usize;
        let mut count = 0usize;
        while received < n {
            match tokio::time::timeout(Duration::from_secs(20), packets.next()).await {
                Ok(Some(Ok(packet))) => {
                    received += rows_in(&packet);
                    count += 1;
                }
                _ => break,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  broker -> rows -> packets (mosquitto, publisher and plugin on this machine): \
             {:>9.0} msg/s ({received} of {n} rows in {count} packets, {secs:.2} s)",
            received as f64 / secs
        );
        drop(publisher); // detached: it ends with the process
    });
}
