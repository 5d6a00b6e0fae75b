//! The MQTT source against a real mosquitto, through the plugin's services as Grafana calls
//! them: QueryData, SubscribeStream, RunStream and CheckHealth with the data source's
//! settings in the plugin context.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::broker::{Broker, BrokerOptions, Publisher};
use crate::support::{self, query_data, run_stream, subscribe, Panel};

const WAIT: Duration = Duration::from_secs(10);

fn mqtt_ctx(broker: &Broker, uid: &str) -> grafana_plugin_sdk::pluginv2::PluginContext {
    support::ctx(uid, 1, json!({ "mqttUrl": broker.url() }), &[])
}

/// QueryData + SubscribeStream + RunStream for `query`: the panel and its stream.
async fn open_panel(
    service: &ringstream_plugin::service::RingstreamService,
    ctx: &grafana_plugin_sdk::pluginv2::PluginContext,
    query: &Json,
) -> (String, Panel, support::Run) {
    let (path, _, _) = query_data(service, ctx, query)
        .await
        .expect("query accepted");
    let mut panel = Panel::default();
    panel.push(&subscribe(service, ctx, &path).await.expect("subscribed"));
    let run = run_stream(service, ctx, &path).await;
    (path, panel, run)
}

/// Reads `ringstream_connections{source="mqtt"}` from CollectMetrics.
async fn mqtt_connections(service: &ringstream_plugin::service::RingstreamService) -> u64 {
    use grafana_plugin_sdk::pluginv2::{self, diagnostics_server::Diagnostics};
    let text = service
        .collect_metrics(tonic::Request::new(
            pluginv2::CollectMetricsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap()
        .prometheus;
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("ringstream_connections{source=\"mqtt\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the metric")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_appear_in_the_panel_with_types_and_timestamps() {
    let broker = Broker::start(&BrokerOptions::default());
    let mut publisher = Publisher::connect(broker.port, None).await;
    // A retained message: the latest value a new panel shows at once, and the sign that the
    // plugin's subscription is live.
    publisher
        .publish("plant/line1", r#"{"ts":1700000000,"temp":20}"#, true)
        .await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-types");
    let query = json!({"source": "mqtt", "topic": "plant/line1", "timePath": "ts", "tickMs": 50});
    let (_, mut panel, mut run) = open_panel(&service, &ctx, &query).await;
    run.until(&mut panel, WAIT, |p| p.len == 1).await;
    assert_eq!(panel.numbers("temp"), [20.0], "the retained value, at once");

    for payload in [
        r#"{"ts":1700000001500,"temp":21.5,"ok":true,"unit":"C","pos":{"x":1,"y":2},"tags":["a","b"]}"#,
        r#"{"ts":"2023-11-14T22:13:22.250Z","temp":22,"ok":false,"unit":"C"}"#,
        r#"{"ts":1700000003000000000,"temp":"23.5","extra":null}"#,
    ] {
        publisher.publish("plant/line1", payload, false).await;
    }
    run.until(&mut panel, WAIT, |p| p.len == 4).await;

    let kinds: Vec<(&str, &str)> = panel
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("time", "time"),
            ("temp", "number"),
            ("ok", "boolean"),
            ("unit", "string"),
            ("pos.x", "number"),
            ("pos.y", "number"),
            ("tags", "string"),
        ]
    );
    assert_eq!(
        panel.numbers("time"),
        [
            1_700_000_000_000.0,
            1_700_000_001_500.0,
            1_700_000_002_250.0,
            1_700_000_003_000.0
        ],
        "seconds, milliseconds, RFC 3339 and nanoseconds, all read as the right instant"
    );
    assert_eq!(panel.numbers("temp"), [20.0, 21.5, 22.0, 23.5]);
    let ok = &panel.field("ok").unwrap().values;
    assert_eq!(ok, &[Json::Null, json!(true), json!(false), Json::Null]);
    assert_eq!(
        panel.field("tags").unwrap().values[1],
        json!(r#"["a","b"]"#)
    );
    assert!(panel.notices.is_empty(), "{:?}", panel.notices);

    // A new QueryData (a dashboard refresh) shows every row the ring holds.
    let (_, rows, names) = query_data(&service, &ctx, &query).await.unwrap();
    assert_eq!(rows, 4);
    assert_eq!(names.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_topics_give_one_series_per_topic() {
    let broker = Broker::start(&BrokerOptions::default());
    let mut publisher = Publisher::connect(broker.port, None).await;
    publisher.publish("site/ready", "1", true).await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-wild");
    let query = json!({"source": "mqtt", "topic": "site/#", "tickMs": 20});
    let (_, mut panel, mut run) = open_panel(&service, &ctx, &query).await;
    run.until(&mut panel, WAIT, |p| p.len == 1).await;

    publisher
        .publish_many(
            [
                ("site/a/temp", r#"{"t":1}"#),
                ("site/b/temp", r#"{"t":10}"#),
                ("site/a/temp", r#"{"t":2}"#),
                ("site/b/temp", "11"),
            ]
            .map(|(t, p)| (t.to_owned(), p.as_bytes().to_vec())),
            false,
        )
        .await;
    run.until(&mut panel, WAIT, |p| p.len == 5).await;
    let a = panel
        .field("t site/a/temp")
        .expect("a series for site/a/temp");
    assert_eq!(
        a.labels.get("topic").map(String::as_str),
        Some("site/a/temp")
    );
    assert_eq!(panel.numbers("t site/a/temp"), [1.0, 2.0]);
    assert_eq!(panel.numbers("t site/b/temp"), [10.0]);
    assert_eq!(
        panel.numbers("value site/b/temp"),
        [11.0],
        "a plain payload is `value`"
    );
    assert_eq!(panel.numbers("value site/ready"), [1.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_payloads_are_skipped_and_counted() {
    let broker = Broker::start(&BrokerOptions::default());
    let mut publisher = Publisher::connect(broker.port, None).await;
    publisher.publish("dev/x", r#"{"v":1}"#, true).await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-garbage");
    let query = json!({"source": "mqtt", "topic": "dev/x", "tickMs": 20});
    let (_, mut panel, mut run) = open_panel(&service, &ctx, &query).await;
    run.until(&mut panel, WAIT, |p| p.len == 1).await;

    for payload in [
        b"{\"v\": 2".to_vec(),        // broken JSON
        vec![0xff, 0xfe, 0x00, 0x80], // not UTF-8
        vec![b'x'; 300 * 1024],       // too large
        br#"{"v":3}"#.to_vec(),
    ] {
        publisher.publish("dev/x", payload, false).await;
    }
    run.until(&mut panel, WAIT, |p| {
        p.len == 2
            && p.notices
                .iter()
                .any(|n| n.starts_with("Skipped 3 of 5 messages"))
    })
    .await;
    assert_eq!(panel.numbers("v"), [1.0, 3.0]);
    assert!(
        panel.notices[0].contains("2 malformed")
            && panel.notices[0].contains("1 larger than 256 KiB"),
        "{:?}",
        panel.notices
    );
    // The stream goes on.
    publisher.publish("dev/x", r#"{"v":4}"#, false).await;
    run.until(&mut panel, WAIT, |p| p.len == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_survives_a_broker_restart_without_duplicates() {
    let mut broker = Broker::start(&BrokerOptions {
        persistence: true,
        ..BrokerOptions::default()
    });
    let mut publisher = Publisher::connect(broker.port, None).await;
    publisher.publish("line/state", r#"{"seq":0}"#, true).await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-restart");
    let query = json!({"source": "mqtt", "topic": "line/state", "tickMs": 50});
    let (_, mut panel, mut run) = open_panel(&service, &ctx, &query).await;
    run.until(&mut panel, WAIT, |p| p.len == 1).await;
    publisher.publish("line/state", r#"{"seq":1}"#, false).await;
    run.until(&mut panel, WAIT, |p| p.len == 2).await;
    drop(publisher);

    broker.stop();
    run.until(&mut panel, WAIT, |p| {
        p.notices.iter().any(|n| n.contains("lost at"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart();
    let restarted = Instant::now();

    // The broker kept the retained {"seq":0} and re-sends it when the plugin subscribes
    // again: the panel must not show it twice. Live messages resume within 5 s.
    let mut publisher = Publisher::connect(broker.port, None).await;
    let mut seq = 2;
    while panel.len < 3 {
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "not resumed within 5 s: {panel:#?}"
        );
        publisher
            .publish("line/state", format!(r#"{{"seq":{seq}}}"#), false)
            .await;
        seq += 1;
        run.drain(&mut panel, Duration::from_millis(200)).await;
    }
    run.drain(&mut panel, Duration::from_millis(300)).await;
    let seen = panel.numbers("seq");
    assert_eq!(&seen[..2], [0.0, 1.0]);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "no row twice, none out of order: {seen:?}"
    );
    assert!(
        panel.notices.iter().any(|n| n.contains("was down from")),
        "the panel is told about the gap: {:?}",
        panel.notices
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_connect_for_real_and_name_bad_credentials_without_secrets() {
    let broker = Broker::start(&BrokerOptions {
        user: Some(("grafana".into(), "right-horse-battery".into())),
        ..BrokerOptions::default()
    });
    let service = support::service();
    let settings = json!({"mqttUrl": broker.url(), "mqttUsername": "grafana"});

    let good = support::ctx(
        "mq-auth",
        1,
        settings.clone(),
        &[("mqttPassword", "right-horse-battery")],
    );
    let (status, message) = support::health(&service, &good).await;
    assert_eq!(status, 1, "{message}");
    assert!(
        message.contains("connected to mqtt://127.0.0.1:") && message.contains("\"grafana\""),
        "{message}"
    );

    let bad = support::ctx(
        "mq-auth",
        2,
        settings,
        &[("mqttPassword", "wrong-staple-secret")],
    );
    let (status, message) = support::health(&service, &bad).await;
    assert_eq!(status, 2, "{message}");
    assert!(
        message.contains("MQTT failed") && message.contains("not authorized"),
        "says what failed: {message}"
    );
    assert!(
        !message.contains("wrong-staple-secret") && !message.contains("right-horse"),
        "{message}"
    );

    let nobody = support::ctx(
        "mq-none",
        1,
        json!({"mqttUrl": format!("mqtt://127.0.0.1:{}", crate::broker::free_port())}),
        &[],
    );
    let (status, message) = support::health(&service, &nobody).await;
    assert_eq!(status, 2);
    assert!(message.contains("connection refused"), "{message}");

    let broken = support::ctx("mq-bad", 1, json!({"mqttUrl": "mqtt://u:pw@host"}), &[]);
    let (status, message) = support::health(&service, &broken).await;
    assert_eq!(status, 2);
    assert!(
        message.contains("mqttUrl") && !message.contains("pw@"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_share_one_connection_and_subscriptions_are_counted() {
    let broker = Broker::start(&BrokerOptions::default());
    let mut publisher = Publisher::connect(broker.port, None).await;
    publisher.publish("shared/t", r#"{"n":0}"#, true).await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-shared");
    let q1 = json!({"source": "mqtt", "topic": "shared/t", "tickMs": 20, "capacity": 100});
    let q2 = json!({"source": "mqtt", "topic": "shared/t", "tickMs": 20, "capacity": 200});
    let (_, mut p1, mut r1) = open_panel(&service, &ctx, &q1).await;
    r1.until(&mut p1, WAIT, |p| p.len == 1).await;
    // The second channel subscribes the same filter: it gets the retained value too, and
    // the first channel does not get it twice.
    let (_, mut p2, mut r2) = open_panel(&service, &ctx, &q2).await;
    r2.until(&mut p2, WAIT, |p| p.len == 1).await;
    assert_eq!(
        mqtt_connections(&service).await,
        1,
        "one connection per data source"
    );

    publisher.publish("shared/t", r#"{"n":1}"#, false).await;
    r1.until(&mut p1, WAIT, |p| p.len == 2).await;
    r2.until(&mut p2, WAIT, |p| p.len == 2).await;
    r1.drain(&mut p1, Duration::from_millis(300)).await;
    assert_eq!(p1.numbers("n"), [0.0, 1.0]);

    // Another settings version is another connection.
    let newer = support::ctx("mq-shared", 2, json!({ "mqttUrl": broker.url() }), &[]);
    let (_, mut p3, mut r3) = open_panel(&service, &newer, &q1).await;
    r3.until(&mut p3, WAIT, |p| p.len == 1).await;
    assert_eq!(mqtt_connections(&service).await, 2);

    // One channel gone (its RunStream cancelled, then freed after the linger time): the
    // other still reads the shared filter.
    drop(r2);
    drop(r3);
    tokio::time::sleep(Duration::from_secs(4)).await;
    publisher.publish("shared/t", r#"{"n":2}"#, false).await;
    r1.until(&mut p1, WAIT, |p| p.len == 3).await;
    assert_eq!(
        mqtt_connections(&service).await,
        1,
        "the newer version's connection ended with its last channel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_topic_is_batched_into_one_packet_per_tick_without_losing_rows() {
    // Mosquitto drops QoS 0 messages for a subscriber more than 1 000 behind
    // (`max_queued_messages`); on a loaded machine the flood outruns the plugin for a moment,
    // so the broker queues them all and the test checks the plugin loses none.
    let broker = Broker::start(&BrokerOptions {
        extra: "max_queued_messages 0\nmax_queued_bytes 0\n".into(),
        ..BrokerOptions::default()
    });
    let mut publisher = Publisher::connect(broker.port, None).await;
    publisher.publish("fast/t", r#"{"i":-1}"#, true).await;
    let service = support::service();
    let ctx = mqtt_ctx(&broker, "mq-fast");
    let query = json!({"source": "mqtt", "topic": "fast/t", "tickMs": 250, "capacity": 10000});
    let (_, mut panel, mut run) = open_panel(&service, &ctx, &query).await;
    run.until(&mut panel, WAIT, |p| p.len == 1).await;

    const N: usize = 3000;
    let started = Instant::now();
    publisher
        .publish_many(
            (0..N).map(|i| ("fast/t".to_owned(), format!(r#"{{"i":{i}}}"#).into_bytes())),
            false,
        )
        .await;
    let packets = run.until(&mut panel, WAIT, |p| p.len == N + 1).await;
    let elapsed = started.elapsed();
    let most = (elapsed.as_millis() / 250) as usize + 2;
    assert!(
        packets <= most,
        "{packets} packets in {elapsed:?}: more than one per tick"
    );
    let seen = panel.numbers("i");
    assert_eq!(
        seen,
        (-1..N as i64).map(|i| i as f64).collect::<Vec<_>>(),
        "every row once, in order"
    );
}

#[tokio::test]
async fn a_query_without_a_configured_broker_names_the_setting() {
    let service = support::service();
    let ctx = support::ctx("mq-unset", 1, json!({}), &[]);
    let err = query_data(&service, &ctx, &json!({"source": "mqtt", "topic": "a"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("mqttUrl") && err.contains("no mqtt connection"),
        "{err}"
    );
    // Signals still work on that data source.
    assert!(query_data(&service, &ctx, &json!({})).await.is_ok());
}
