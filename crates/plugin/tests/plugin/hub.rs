//! The stream hub's delivery spec, in process with tokio's paused clock: QueryData, then
//! SubscribeStream, then RunStream hand a panel every row exactly once; restarts continue;
//! idle channels are freed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ringstream_plugin::channel::ChannelPath;
use ringstream_plugin::clock::TokioClock;
use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::query::StreamSpec;
use ringstream_plugin::PluginError;
use serde_json::Value as Json;

const EPOCH_MS: i64 = 1_700_000_000_000;

fn hub(linger_ms: u64, max_channels: usize) -> StreamHub {
    StreamHub::new(HubConfig {
        max_channels,
        linger: Duration::from_millis(linger_ms),
        clock: Arc::new(TokioClock::starting_at(EPOCH_MS)),
    })
}

fn counter(capacity: usize, backfill: bool) -> (ChannelPath, StreamSpec) {
    let json = format!(
        r#"{{"signal":"counter","tickMs":100,"capacity":{capacity},"backfill":{backfill}}}"#
    );
    let spec = StreamSpec::from_json_bytes(json.as_bytes()).unwrap();
    (ChannelPath::of(&spec), spec)
}

/// The counter values in a DataFrameJSON message (the `value` column).
fn values(msg: &str) -> Vec<f64> {
    let json: Json = serde_json::from_str(msg).unwrap();
    json["data"]["values"][1]
        .as_array()
        .map(|v| v.iter().map(|x| x.as_f64().unwrap()).collect())
        .unwrap_or_default()
}

fn frame_values(frame: &ringstream_plugin::frame::RingFrame) -> Vec<f64> {
    frame
        .column(1)
        .unwrap()
        .map(|v| match v {
            ringstream_plugin::frame::Value::Number(x) => x,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn query_subscribe_and_run_deliver_every_row_once() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(50, true);
    let channel = hub.open(&path, &spec).unwrap();
    let mut panel = frame_values(
        &channel
            .query_frame("1/ada", i64::MIN / 2_000_000, i64::MAX / 2_000_000)
            .unwrap(),
    );
    assert_eq!(panel.len(), 50, "backfilled history");
    assert_eq!(panel, (0..50).map(f64::from).collect::<Vec<_>>());

    tokio::time::sleep(Duration::from_millis(350)).await; // rows produced, not yet published
    panel.extend(values(&channel.initial_data("1/ada")));
    let mut run = Box::pin(channel.run_stream());
    let first = String::from_utf8(run.next().await.unwrap().unwrap()).unwrap();
    assert!(
        first.contains("\"schema\""),
        "the first packet carries the schema"
    );
    panel.extend(values(&first));
    for _ in 0..5 {
        let packet = String::from_utf8(run.next().await.unwrap().unwrap()).unwrap();
        assert!(!packet.contains("\"schema\""), "then data only: {packet}");
        panel.extend(values(&packet));
    }
    let expected: Vec<f64> = (0..panel.len() as u32).map(f64::from).collect();
    assert_eq!(panel, expected, "no row lost, repeated or reordered");
    assert!(panel.len() >= 56);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_run_stream_continues_where_the_last_one_stopped() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(100, false);
    let channel = hub.open(&path, &spec).unwrap();
    let mut seen = Vec::new();
    {
        let mut run = Box::pin(channel.run_stream());
        while seen.len() < 5 {
            seen.extend(values(
                &String::from_utf8(run.next().await.unwrap().unwrap()).unwrap(),
            ));
        }
    } // Grafana cancels
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let again = hub.open(&path, &spec).unwrap();
    assert!(Arc::ptr_eq(&channel, &again), "the channel lingers");
    let mut run = Box::pin(again.run_stream());
    while seen.len() < 20 {
        seen.extend(values(
            &String::from_utf8(run.next().await.unwrap().unwrap()).unwrap(),
        ));
    }
    assert_eq!(
        seen,
        (0..seen.len() as u32).map(f64::from).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn packets_batch_rows_at_most_once_per_tick() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(1000, false);
    let channel = hub.open(&path, &spec).unwrap();
    let mut run = Box::pin(channel.run_stream());
    let _schema = run.next().await;
    tokio::time::sleep(Duration::from_millis(1_000)).await; // ten rows pile up
    let packet = String::from_utf8(run.next().await.unwrap().unwrap()).unwrap();
    assert!(
        values(&packet).len() >= 9,
        "one packet for the backlog: {packet}"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_channels_are_freed_after_the_linger_time() {
    let hub = hub(2_000, 10);
    let (path, spec) = counter(10, true);
    let weak = Arc::downgrade(&hub.open(&path, &spec).unwrap());
    assert_eq!(hub.channel_count(), 1);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(hub.channel_count(), 1, "still within the linger time");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(hub.channel_count(), 0);
    assert!(weak.upgrade().is_none(), "ring and producer dropped");
}

#[tokio::test(start_paused = true)]
async fn a_running_stream_is_never_freed() {
    let hub = hub(500, 10);
    let (path, spec) = counter(10, false);
    let channel = hub.open(&path, &spec).unwrap();
    let mut run = Box::pin(channel.run_stream());
    for _ in 0..30 {
        run.next().await.unwrap().unwrap();
    }
    assert_eq!(hub.channel_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_number_of_channels_is_bounded() {
    let hub = hub(10_000, 2);
    for cap in [1, 2] {
        let (path, spec) = counter(cap, false);
        hub.open(&path, &spec).unwrap();
    }
    let (path, spec) = counter(3, false);
    let err = hub.open(&path, &spec).unwrap_err();
    assert!(
        matches!(err, PluginError::TooManyChannels { max: 2 }),
        "{err}"
    );
    // An existing channel still opens at the limit.
    let (path, spec) = counter(1, false);
    assert!(hub.open(&path, &spec).is_ok());
}

#[tokio::test(start_paused = true)]
async fn subscribing_without_a_query_gets_the_whole_published_ring() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(20, true);
    let channel = hub.open(&path, &spec).unwrap();
    let initial = channel.initial_data("1/ada");
    assert_eq!(values(&initial), (0..20).map(f64::from).collect::<Vec<_>>());
    assert!(initial.contains("\"schema\""));
}

#[tokio::test(start_paused = true)]
async fn one_viewers_query_does_not_move_anothers_served_mark() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(1000, false);
    let channel = hub.open(&path, &spec).unwrap();
    let mut run = Box::pin(channel.run_stream());
    let (from, to) = (i64::MIN / 2_000_000, i64::MAX / 2_000_000);
    for _ in 0..3 {
        run.next().await.unwrap().unwrap(); // publish some rows
    }
    let mut ada = frame_values(&channel.query_frame("1/ada", from, to).unwrap());
    for _ in 0..3 {
        run.next().await.unwrap().unwrap(); // rows published between ada's query and subscribe
    }
    let bob = frame_values(&channel.query_frame("1/bob", from, to).unwrap());
    assert!(bob.len() > ada.len(), "bob's query sees the newer rows");
    ada.extend(values(&channel.initial_data("1/ada")));
    assert_eq!(
        ada,
        (0..ada.len() as u32).map(f64::from).collect::<Vec<_>>(),
        "ada gets the rows published since her own query, not since bob's"
    );
    assert_eq!(ada.len(), bob.len());
    assert_eq!(values(&channel.initial_data("1/bob")), Vec::<f64>::new());
    assert_eq!(
        values(&channel.initial_data("2/ada")).len(),
        bob.len(),
        "a viewer with no query gets every published row"
    );
}

#[tokio::test(start_paused = true)]
async fn served_marks_are_bounded_and_the_oldest_viewer_is_forgotten() {
    use ringstream_plugin::hub::MAX_SERVED_MARKS;
    let hub = hub(10_000, 10);
    let (path, spec) = counter(50, true);
    let channel = hub.open(&path, &spec).unwrap();
    let (from, to) = (i64::MIN / 2_000_000, i64::MAX / 2_000_000);
    for v in 0..=MAX_SERVED_MARKS {
        channel.query_frame(&format!("1/v{v}"), from, to).unwrap();
    }
    // The newest viewers remember their query: nothing new since.
    let newest = format!("1/v{MAX_SERVED_MARKS}");
    assert_eq!(values(&channel.initial_data(&newest)), Vec::<f64>::new());
    assert_eq!(values(&channel.initial_data("1/v1")), Vec::<f64>::new());
    // The first one was forgotten: it gets every published row, as a viewer with no query.
    assert_eq!(values(&channel.initial_data("1/v0")).len(), 50);
}
