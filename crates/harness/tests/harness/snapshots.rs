//! Snapshots of seeded, deterministic streams under paused time: the QueryData frame
//! decoded from Arrow into a table, SubscribeStream's initial data and RunStream's packets
//! as the JSON sent, and what the panel shows at the end. A change to any of them is a
//! change in what Grafana receives, so it must be reviewed:
//! `INSTA_UPDATE=always cargo test -p ringstream-harness` (or `cargo insta review`), then
//! read the diff. CI never updates them (`CI=true` makes insta fail on a mismatch).

use std::fmt::Write as _;
use std::time::Duration;

use ringstream_harness::host::channel_path;
use ringstream_harness::live::{Action, LiveOptions};
use ringstream_harness::panel::Panel;
use ringstream_harness::wire;
use serde_json::{json, Value};

use crate::inproc::{paused_runtime, InProc, EPOCH_MS};

/// Runs `query` in a fresh plugin: QueryData over the last `range_ms`, then (unless
/// `subscribe_first`) the panel's subscribe, then a RunStream sampled `packets` times every
/// `step_ms`. Returns a readable record of everything Grafana received.
fn record(query: Value, range_ms: i64, step_ms: u64, packets: usize, max_length: usize) -> String {
    paused_runtime().block_on(async {
        let inproc = InProc::new();
        let mut out = String::new();
        let frame = inproc
            .query(query.clone(), (EPOCH_MS - range_ms, EPOCH_MS))
            .await
            .expect("the query is valid");
        let path = channel_path(frame.channel().unwrap(), &inproc.uid())
            .unwrap()
            .to_owned();
        writeln!(
            out,
            "query: {query}\n\n== QueryData frame (Arrow, decoded) =="
        )
        .unwrap();
        out.push_str(&frame.to_table());
        writeln!(out, "meta: {}", frame.meta.clone().unwrap_or(Value::Null)).unwrap();

        let options = LiveOptions {
            max_length,
            max_delta: None,
            action: Action::Append,
        };
        let mut panel = Panel::with_query_frame(&frame, options).unwrap();
        let (status, initial) = inproc.subscribe(&path).await;
        assert_eq!(status, 0);
        writeln!(
            out,
            "\n== SubscribeStream initial data ==\n{}",
            String::from_utf8(initial.clone()).unwrap()
        )
        .unwrap();
        panel.push_initial(&initial).unwrap();

        let mut runner = inproc.run_stream(&path).await;
        writeln!(out, "\n== RunStream packets (every {step_ms} ms) ==").unwrap();
        let mut sent = Vec::new();
        while sent.len() < packets {
            tokio::time::sleep(Duration::from_millis(step_ms)).await;
            sent.extend(runner.drain());
        }
        for bytes in sent.iter().take(packets) {
            let text = String::from_utf8(bytes.clone()).unwrap();
            writeln!(out, "{text}").unwrap();
            panel.push_packet(&wire::decode(&text).unwrap()).unwrap();
        }
        writeln!(out, "\n== The panel (maxLength {max_length}) ==").unwrap();
        out.push_str(&panel.to_table());
        let _ = runner.cancel().await;
        out
    })
}

#[test]
fn a_counter_stream() {
    let text = record(
        json!({"signal": "counter", "tickMs": 1000, "capacity": 5, "offset": 10, "step": 0.5}),
        60_000,
        1000,
        3,
        5,
    );
    insta::assert_snapshot!("counter_stream", text);
}

#[test]
fn a_seeded_random_walk() {
    let text = record(
        json!({"signal": "random_walk", "seed": 42, "tickMs": 100, "capacity": 6, "spread": 0.5}),
        60_000,
        100,
        4,
        6,
    );
    insta::assert_snapshot!("random_walk_seed_42", text);
}

#[test]
fn a_sine_wave_over_a_narrow_time_range() {
    // The range holds only the newest 4 of the 8 rows: QueryData returns just those.
    let text = record(
        json!({"signal": "sine", "tickMs": 500, "capacity": 8, "periodMs": 4000, "amplitude": 2}),
        1_500,
        500,
        2,
        8,
    );
    insta::assert_snapshot!("sine_narrow_range", text);
}

#[test]
fn a_subscriber_without_a_query_gets_every_published_row() {
    let text = paused_runtime().block_on(async {
        let inproc = InProc::new();
        let query =
            json!({"signal": "square", "seed": 7, "tickMs": 250, "capacity": 4, "periodMs": 1000});
        let spec =
            ringstream_plugin::query::StreamSpec::from_json_bytes(query.to_string().as_bytes())
                .unwrap();
        let path = ringstream_plugin::ChannelPath::of(&spec).to_string();
        let (status, initial) = inproc.subscribe(&path).await;
        assert_eq!(status, 0);
        format!(
            "path: {path}\ninitial data: {}",
            String::from_utf8(initial).unwrap()
        )
    });
    insta::assert_snapshot!("square_subscribe_only", text);
}
