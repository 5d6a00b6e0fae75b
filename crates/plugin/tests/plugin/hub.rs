//! The stream hub's delivery spec, in process with tokio's paused clock: QueryData, then
//! SubscribeStream, then RunStream hand a panel every row exactly once; restarts continue;
//! idle channels are freed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ringstream_plugin::budget::{Requester, Resource, Scope};
use ringstream_plugin::channel::ChannelPath;
use ringstream_plugin::clock::TokioClock;
use ringstream_plugin::hub::{Channel, HubConfig, StreamHub};
use ringstream_plugin::limits::Limits;
use ringstream_plugin::query::StreamSpec;
use ringstream_plugin::PluginError;
use serde_json::Value as Json;

const EPOCH_MS: i64 = 1_700_000_000_000;

fn hub(linger_ms: u64, max_channels: u64) -> StreamHub {
    hub_with(
        linger_ms,
        Limits {
            max_channels,
            ..Limits::default()
        },
    )
}

fn hub_with(linger_ms: u64, limits: Limits) -> StreamHub {
    StreamHub::new(HubConfig {
        limits,
        linger: Duration::from_millis(linger_ms),
        clock: Arc::new(TokioClock::starting_at(EPOCH_MS)),
        state_dir: None,
    })
}

/// Every share at 100 %: only the process's limits apply.
fn unshared(limits: Limits) -> Limits {
    Limits {
        viewer_share_percent: 100,
        org_share_percent: 100,
        datasource_share_percent: 100,
        ..limits
    }
}

/// QueryData's rows for `viewer` over the whole time line, uncut.
fn query(channel: &Channel, viewer: &str) -> ringstream_plugin::frame::RingFrame {
    channel
        .query_frame(
            Some(viewer),
            i64::MIN / 2_000_000,
            i64::MAX / 2_000_000,
            None,
            usize::MAX,
        )
        .unwrap()
        .frame
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
    let mut panel = frame_values(&query(&channel, "1/ada"));
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
    let hub = hub_with(
        10_000,
        unshared(Limits {
            max_channels: 2,
            ..Limits::default()
        }),
    );
    for cap in [1, 2] {
        let (path, spec) = counter(cap, false);
        hub.open(&path, &spec).unwrap();
    }
    let (path, spec) = counter(3, false);
    let err = hub.open(&path, &spec).unwrap_err();
    match &err {
        PluginError::Budget(b) => {
            assert_eq!(
                (b.resource, b.scope, b.limit),
                (Resource::Channels, Scope::Process, 2)
            );
            assert!(err.to_string().contains("max_channels"), "{err}");
        }
        other => panic!("{other}"),
    }
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
    for _ in 0..3 {
        run.next().await.unwrap().unwrap(); // publish some rows
    }
    let mut ada = frame_values(&query(&channel, "1/ada"));
    for _ in 0..3 {
        run.next().await.unwrap().unwrap(); // rows published between ada's query and subscribe
    }
    let bob = frame_values(&query(&channel, "1/bob"));
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
    for v in 0..=MAX_SERVED_MARKS {
        query(&channel, &format!("1/v{v}"));
    }
    // The newest viewers remember their query: nothing new since.
    let newest = format!("1/v{MAX_SERVED_MARKS}");
    assert_eq!(values(&channel.initial_data(&newest)), Vec::<f64>::new());
    assert_eq!(values(&channel.initial_data("1/v1")), Vec::<f64>::new());
    // The first one was forgotten: it gets every published row, as a viewer with no query.
    assert_eq!(values(&channel.initial_data("1/v0")).len(), 50);
}

/// The same stream with another seed.
fn seeded(spec: &StreamSpec, seed: u64) -> StreamSpec {
    let mut spec = spec.clone();
    spec.values
        .set("seed", ringstream_plugin::param::Value::Integer(seed));
    spec
}

fn viewer(org: i64, login: &str) -> Requester {
    Requester {
        org_id: org,
        login: login.into(),
        datasource: Some("ds".into()),
        ..Requester::system()
    }
}

#[tokio::test(start_paused = true)]
async fn one_viewer_cannot_take_every_channel() {
    // 8 channels in all; a viewer may hold 25 % of them, an org 50 %.
    let hub = hub(10_000, 8);
    let mallory = viewer(1, "mallory");
    for cap in 1..=2 {
        let (path, spec) = counter(cap, false);
        hub.open_in(&mallory, None, &path, &spec).unwrap();
    }
    let (path, spec) = counter(3, false);
    let err = hub.open_in(&mallory, None, &path, &spec).unwrap_err();
    assert!(
        matches!(&err, PluginError::Budget(b) if b.scope == Scope::Viewer && b.resource == Resource::Channels),
        "{err}"
    );
    assert!(err.to_string().contains("viewer_share_percent"), "{err}");
    // Another org's viewer still gets new channels, and mallory still opens existing ones.
    hub.open_in(&viewer(2, "ada"), None, &path, &spec).unwrap();
    let (path, spec) = counter(1, false);
    assert!(hub.open_in(&mallory, None, &path, &spec).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_channel_that_does_not_fit_keeps_fewer_rows_and_says_so() {
    // 16 MiB in all: a viewer's 25 % is 4 MiB, about 230 000 rows of (time, value).
    let limits = Limits {
        max_memory_mb: 16,
        ..Limits::default()
    };
    let hub = hub_with(10_000, limits);
    let who = viewer(1, "ada");
    let (path, spec) = counter(100_000, true);
    let first = hub.open_in(&who, None, &path, &spec).unwrap();
    assert_eq!(first.capacity(), 100_000, "the first fits whole");
    let spec2 = seeded(&spec, 1);
    let path2 = ChannelPath::of(&spec2);
    let second = hub.open_in(&who, None, &path2, &spec2).unwrap();
    assert_eq!(second.capacity(), 100_000);
    let spec3 = seeded(&spec, 2);
    let path3 = ChannelPath::of(&spec3);
    let third = hub.open_in(&who, None, &path3, &spec3).unwrap();
    let cut = third.capacity();
    assert!((1_000..100_000).contains(&cut), "cut to what fits: {cut}");
    let frame = query(&third, "1/ada");
    assert_eq!(frame.len(), cut, "its history fills what it keeps");
    let notice = &frame.meta().notices[0].text;
    assert!(
        notice.contains(&format!("newest {cut} rows instead of the 100000"))
            && notice.contains("viewer_share_percent"),
        "{notice}"
    );
    // Nothing left for a fourth.
    let spec4 = seeded(&spec, 3);
    let err = hub
        .open_in(&who, None, &ChannelPath::of(&spec4), &spec4)
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Budget(b) if b.resource == Resource::Memory),
        "{err}"
    );
    assert!(hub.budget().used().bytes <= 4 << 20);
    drop((first, second, third));
}

#[tokio::test(start_paused = true)]
async fn max_rows_keeps_the_newest_rows_with_a_notice() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(500, true);
    let channel = hub.open(&path, &spec).unwrap();
    let rows = channel
        .query_frame(
            Some("1/ada"),
            i64::MIN / 2_000_000,
            i64::MAX / 2_000_000,
            Some(100),
            usize::MAX,
        )
        .unwrap();
    assert_eq!(rows.in_range, 500);
    assert_eq!(
        frame_values(&rows.frame),
        (400..500).map(f64::from).collect::<Vec<_>>()
    );
    let notice = &rows.frame.meta().notices[0].text;
    assert!(notice.contains("newest 100 of the 500 rows"), "{notice}");
    // Served up to the newest row all the same: the subscribe brings nothing twice.
    assert!(values(&channel.initial_data("1/ada")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_frame_larger_than_the_response_limit_is_refused() {
    let hub = hub(10_000, 10);
    let (path, spec) = counter(10_000, true);
    let channel = hub.open(&path, &spec).unwrap();
    let err = channel
        .query_frame(
            Some("1/ada"),
            i64::MIN / 2_000_000,
            i64::MAX / 2_000_000,
            None,
            50_000,
        )
        .unwrap_err();
    assert!(matches!(err, PluginError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("max_response_mb"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn closed_channels_give_their_budget_back() {
    let hub = hub(1_000, 10);
    let (path, spec) = counter(1_000, true);
    drop(hub.open_in(&viewer(1, "ada"), None, &path, &spec).unwrap());
    assert_eq!(hub.budget().used().channels, 1);
    assert!(hub.budget().used().bytes >= 18_000);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(hub.budget().used(), Default::default());
}
