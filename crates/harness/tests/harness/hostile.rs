//! Hostile load, through the real `gpx_ringstream` executable as Grafana runs it: each test
//! is one attack a viewer or a publisher of a shared Grafana could make, and checks that the
//! process stays up, that a *victim* — another org, data source, topic or panel — keeps
//! streaming, and that the plugin's resident memory (its peak, `VmHWM`) stays under 1 GiB.
//!
//! The machine is a loaded 2-core CI box: time bounds are generous, and conditions are
//! waited for rather than slept on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringstream_harness::host::{
    Caller, DataSourceSettings, HealthStatus, HostOptions, LivePanel, PluginHost, Query,
    StreamStatus, User,
};
use ringstream_harness::panel::buffer_options;
use serde_json::{json, Value};

use crate::plugin_exe::plugin_exe;
use crate::servers::{Mosquitto, Publisher, WsServer};

const WAIT: Duration = Duration::from_secs(15);
const GIB: u64 = 1 << 30;

async fn start(env: &[(&str, &str)]) -> PluginHost {
    PluginHost::start_with(
        plugin_exe(),
        HostOptions {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            call_timeout: Duration::from_secs(60),
            ..HostOptions::default()
        },
    )
    .await
    .expect("the plugin starts")
}

fn datasource(org: i64, uid: &str, json_data: Value) -> DataSourceSettings {
    DataSourceSettings {
        org_id: org,
        uid: uid.into(),
        json_data,
        ..DataSourceSettings::default()
    }
}

fn user(login: &str) -> Option<User> {
    Some(User {
        login: login.into(),
        role: "Viewer".into(),
    })
}

/// The plugin is alive and its memory never went past 1 GiB.
fn assert_healthy(host: &mut PluginHost) {
    assert!(host.is_running(), "the plugin process died");
    if let Some((rss, peak)) = host.memory() {
        // Shown with --nocapture: the figures docs/RELIABILITY.md quotes.
        eprintln!(
            "plugin memory: peak {} MiB, now {} MiB",
            peak >> 20,
            rss >> 20
        );
        assert!(
            peak < GIB,
            "the plugin's memory peaked at {} MiB (now {} MiB)",
            peak >> 20,
            rss >> 20
        );
    }
}

/// A victim's panel on a counter stream: it must keep getting rows.
async fn victim_counter(caller: &Caller) -> LivePanel {
    let query = Query::new(
        "V",
        json!({"signal": "counter", "tickMs": 50, "capacity": 1000}),
    );
    LivePanel::open_as(caller, &query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel opens")
}

/// Waits until the panel has `more` rows beyond what it shows now.
async fn keeps_streaming(panel: &mut LivePanel, more: usize, what: &str) {
    let want = panel.panel().len() + more;
    let capped = want.min(1000);
    panel
        .wait_until(WAIT, |p| p.len() >= capped)
        .await
        .unwrap_or_else(|e| panic!("{what}: the victim stopped streaming: {e}"));
}

fn error_of(
    answers: &HashMap<String, ringstream_harness::host::QueryResult>,
    ref_id: &str,
) -> String {
    answers[ref_id].error.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_of_long_nested_keys_is_skipped_without_growing_memory() {
    let broker = Mosquitto::start();
    let mut host = start(&[]).await;
    let ds = datasource(1, "mqtt", json!({"mqttUrl": broker.url()}));
    let victim = host.caller_as(ds.clone(), user("ada")).expect("caller");
    let attacker = host.caller_as(ds, user("mallory")).expect("caller");
    let mut publisher = Publisher::connect(broker.port).await;

    let victim_query = Query::new(
        "V",
        json!({"source": "mqtt", "topic": "victim/t", "tickMs": 50}),
    );
    let mut panel = LivePanel::open_as(&victim, &victim_query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel");
    let attack_query = Query::new(
        "A",
        json!({"source": "mqtt", "topic": "attack/#", "tickMs": 50}),
    );
    let mut attack =
        LivePanel::open_as(&attacker, &attack_query, buffer_options(1000, None, false))
            .await
            .expect("the attacker's panel");
    publisher
        .until_live("victim/t", r#"{"v":-1}"#, &mut panel)
        .await;
    publisher
        .until_live("attack/probe", r#"{"p":1}"#, &mut attack)
        .await;
    let before = panel.panel().len();

    // Long keys nested a few levels deep over many small leaves: every leaf's flattened key
    // would be the whole path (the quadratic blow-up that aborted the process), and the
    // same nested past the depth limit.
    let long = "k".repeat(1_000);
    let leaves: Vec<String> = (0..20_000).map(|i| format!("\"{i}\":1")).collect();
    let mut wide = leaves.join(",");
    for _ in 0..6 {
        wide = format!("{{\"{long}\":{{{wide}}}}}");
    }
    let deep = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    for payload in [&wide, &deep] {
        assert!(payload.len() < 256 * 1024, "within the payload limit");
    }
    publisher
        .publish_all(
            (0..20).flat_map(|_| {
                [
                    ("attack/wide".to_owned(), wide.clone().into_bytes()),
                    ("attack/deep".to_owned(), deep.clone().into_bytes()),
                ]
            }),
            false,
        )
        .await;
    for i in 0..10 {
        publisher
            .publish("victim/t", format!(r#"{{"v":{i}}}"#))
            .await;
    }
    panel
        .wait_until(WAIT, |p| p.len() >= before + 10)
        .await
        .expect("the victim gets every row");
    let v = panel.panel().numbers("v").expect("numbers");
    assert_eq!(v[before..], (0..10).map(f64::from).collect::<Vec<_>>());
    attack
        .wait_until(WAIT, |p| {
            p.frame()
                .meta()
                .is_some_and(|m| m.to_string().contains("too complex"))
        })
        .await
        .expect("the attacker's panel says what was skipped");
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_the_broker_drops_connections_for_is_refused_before_it_is_sent() {
    let broker = Mosquitto::start();
    let mut host = start(&[]).await;
    let ds = datasource(1, "mqtt", json!({"mqttUrl": broker.url()}));
    let victim = host.caller_as(ds.clone(), user("ada")).expect("caller");
    let attacker = host.caller_as(ds, user("mallory")).expect("caller");
    let mut publisher = Publisher::connect(broker.port).await;
    let victim_query = Query::new(
        "V",
        json!({"source": "mqtt", "topic": "victim/t", "tickMs": 50}),
    );
    let mut panel = LivePanel::open_as(&victim, &victim_query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel");
    publisher
        .until_live("victim/t", r#"{"v":-1}"#, &mut panel)
        .await;
    let live = panel.panel().len();

    for topic in [
        "a/\u{FFFF}",
        "a/\u{FDD0}",
        "$share/g/victim/t",
        "$queue/victim/t",
    ] {
        let answers = attacker
            .query_data(&[Query::new("A", json!({"source": "mqtt", "topic": topic}))])
            .await
            .expect("QueryData answers");
        let error = error_of(&answers, "A");
        assert!(error.contains("query field `topic`"), "{topic}: {error}");
        assert_eq!(answers["A"].status, 400);
    }
    // The same stream named by a channel path (what SubscribeStream and RunStream get).
    let path = "v1/mqtt/tick=100/cap=1000/backfill=1/topic/a/=EF=BF=BF";
    let reply = attacker
        .subscribe(path)
        .await
        .expect("SubscribeStream answers");
    assert_eq!(reply.status, StreamStatus::NotFound);
    assert!(
        attacker.run_stream(path).await.is_err(),
        "RunStream refused"
    );

    for i in 0..5 {
        publisher
            .publish("victim/t", format!(r#"{{"v":{i}}}"#))
            .await;
    }
    panel
        .wait_until(WAIT, |p| p.len() >= live + 5)
        .await
        .expect("the shared connection still carries the victim's rows");
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_the_broker_refuses_fails_only_its_own_channel() {
    // Mosquitto's dynamic security plugin denies anonymous clients `secret/#` and answers its
    // SUBSCRIBE with a SUBACK failure (mosquitto's plain ACL file grants the subscription
    // and filters at delivery instead).
    let broker = Mosquitto::start_with_dynsec(
        r#"{"defaultACLAccess":{"publishClientSend":true,"publishClientReceive":true,
            "subscribe":true,"unsubscribe":true},
           "clients":[],"groups":[{"groupname":"anon","roles":[{"rolename":"r"}]}],
           "roles":[{"rolename":"r","acls":[{"acltype":"subscribePattern","topic":"secret/#",
             "priority":0,"allow":false}]}],
           "anonymousGroup":"anon"}"#,
    );

    let mut host = start(&[]).await;
    let ds = datasource(1, "mqtt", json!({"mqttUrl": broker.url()}));
    let victim = host.caller_as(ds.clone(), user("ada")).expect("caller");
    let attacker = host.caller_as(ds, user("mallory")).expect("caller");
    let mut publisher = Publisher::connect(broker.port).await;
    let victim_query = Query::new(
        "V",
        json!({"source": "mqtt", "topic": "victim/t", "tickMs": 50}),
    );
    let mut panel = LivePanel::open_as(&victim, &victim_query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel");
    publisher
        .until_live("victim/t", r#"{"v":-1}"#, &mut panel)
        .await;
    let live = panel.panel().len();

    let refused = Query::new(
        "A",
        json!({"source": "mqtt", "topic": "secret/#", "tickMs": 50}),
    );
    // The first QueryData makes the channel; once the broker's SUBACK is in, the channel
    // has failed and opening it again is refused at once, without asking the broker.
    let deadline = Instant::now() + WAIT;
    let error = loop {
        let answers = attacker
            .query_data(std::slice::from_ref(&refused))
            .await
            .expect("QueryData answers");
        let error = error_of(&answers, "A");
        if !error.is_empty() || Instant::now() > deadline {
            break error;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        error.contains("refused the subscription to \"secret/#\""),
        "{error}"
    );
    let reply = attacker
        .subscribe("v1/mqtt/tick=50/cap=1000/backfill=1/topic/secret/=23")
        .await
        .expect("SubscribeStream answers");
    assert_eq!(reply.status, StreamStatus::NotFound);
    for i in 0..5 {
        publisher
            .publish("victim/t", format!(r#"{{"v":{i}}}"#))
            .await;
    }
    panel
        .wait_until(WAIT, |p| p.len() >= live + 5)
        .await
        .expect("the victim keeps streaming");
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_channels_on_a_held_filter_get_the_latest_values_without_resubscribing() {
    let broker = Mosquitto::start_with("log_type subscribe\n");
    let mut host = start(&[]).await;
    let ds = datasource(1, "mqtt", json!({"mqttUrl": broker.url()}));
    let caller = host.caller_as(ds, user("ada")).expect("caller");
    for i in 0..20 {
        assert!(broker.publish(&format!("plant/m{i}"), &format!(r#"{{"v":{i}}}"#), true));
    }
    let mut panels = Vec::new();
    for tick in [50, 60, 70, 80, 90, 100, 110, 120] {
        let query = Query::new(
            "A",
            json!({"source": "mqtt", "topic": "plant/#", "tickMs": tick, "capacity": 100}),
        );
        let mut panel = LivePanel::open_as(&caller, &query, buffer_options(1000, None, false))
            .await
            .expect("a panel");
        panel
            .wait_until(WAIT, |p| p.len() >= 20)
            .await
            .expect("every retained value, whoever subscribed first");
        panels.push(panel);
    }
    let subscribes = broker
        .log()
        .lines()
        .filter(|l| l.contains("plant/#"))
        .count();
    assert_eq!(
        subscribes,
        1,
        "one SUBSCRIBE for eight channels:\n{}",
        broker.log()
    );
    // And no channel got a retained value twice.
    for panel in &panels {
        assert_eq!(
            panel.panel().len(),
            20,
            "{}",
            panel.panel().to_table_tail(25)
        );
    }
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewer_cannot_take_every_channel() {
    let mut host = start(&[("GF_PLUGIN_MAX_CHANNELS", "200")]).await;
    let victim = host
        .caller_as(datasource(1, "ds-a", json!({})), user("ada"))
        .expect("caller");
    let attacker = host
        .caller_as(datasource(2, "ds-m", json!({})), user("mallory"))
        .expect("caller");
    // Ten requests of 30 distinct streams each: 300 channels asked for, 200 exist at most,
    // and one viewer may hold a quarter of them.
    let mut refused = 0;
    let mut opened = 0;
    for r in 0..10 {
        let queries: Vec<Query> = (0..30)
            .map(|i| {
                Query::new(
                    &format!("Q{i}"),
                    json!({"signal": "random", "seed": r * 100 + i, "capacity": 10}),
                )
            })
            .collect();
        let answers = attacker
            .query_data(&queries)
            .await
            .expect("QueryData answers");
        for a in answers.values() {
            match &a.error {
                None => opened += 1,
                Some(e) => {
                    assert!(e.contains("viewer_share_percent"), "{e}");
                    assert_eq!(a.status, 503);
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(opened, 50, "a quarter of 200");
    assert_eq!(refused, 250);
    let mut panel = victim_counter(&victim).await;
    keeps_streaming(&mut panel, 5, "after the attack").await;
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_two_thousand_queries_does_not_stall_other_viewers() {
    let mut host = start(&[]).await;
    let victim = host
        .caller_as(datasource(1, "ds-a", json!({})), user("ada"))
        .expect("caller");
    let attacker = host
        .caller_as(datasource(2, "ds-m", json!({})), user("mallory"))
        .expect("caller");
    let mut panel = victim_counter(&victim).await;
    let queries: Vec<Query> = (0..2_000)
        .map(|i| {
            Query::new(
                &format!("Q{i}"),
                json!({"signal": "random_walk", "seed": i, "capacity": 5000}),
            )
        })
        .collect();
    let big = tokio::spawn({
        let attacker = attacker.clone();
        async move { attacker.query_data(&queries).await }
    });
    // While it is being answered, the victim's own query and stream go on.
    let asked = Instant::now();
    let answers = victim
        .query_data(&[Query::new("B", json!({"signal": "sine", "capacity": 100}))])
        .await
        .expect("the victim's QueryData");
    assert!(answers["B"].error.is_none(), "{:?}", answers["B"].error);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the victim's query took {:?}",
        asked.elapsed()
    );
    keeps_streaming(&mut panel, 5, "during the big request").await;
    let answers = big
        .await
        .expect("task")
        .expect("the big request is answered");
    assert_eq!(answers.len(), 2_000, "every refId gets an answer");
    let limited = answers
        .values()
        .filter(|a| {
            a.error
                .as_deref()
                .is_some_and(|e| e.contains("max_queries_per_request"))
        })
        .count();
    assert_eq!(limited, 2_000 - 256);
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_refids_of_one_big_stream_stay_within_the_response_limit() {
    let mut host = start(&[]).await;
    let attacker = host
        .caller_as(datasource(2, "ds-m", json!({})), user("mallory"))
        .expect("caller");
    let queries: Vec<Query> = (0..600)
        .map(|i| {
            Query::new(
                &format!("Q{i}"),
                json!({"signal": "counter", "capacity": 100000, "tickMs": 10}),
            )
            .with_max_data_points(200_000)
        })
        .collect();
    let answers = attacker
        .query_data(&queries)
        .await
        .expect("QueryData answers");
    assert_eq!(answers.len(), 600);
    let rows: usize = answers
        .values()
        .flat_map(|a| &a.frames)
        .map(|f| f.len())
        .sum();
    let frames = answers.values().filter(|a| a.error.is_none()).count();
    // A 100 000-row (time, value) frame is about 1.6 MB of Arrow: ten fit in 16 MiB.
    assert!((1..=10).contains(&frames), "{frames} frames, {rows} rows");
    let errors: Vec<&str> = answers
        .values()
        .filter_map(|a| a.error.as_deref())
        .collect();
    let too_large = errors
        .iter()
        .filter(|e| e.contains("max_response_mb"))
        .count();
    let beyond = errors
        .iter()
        .filter(|e| e.contains("max_queries_per_request"))
        .count();
    assert_eq!(
        beyond,
        600 - 256,
        "queries past the 256th are not worked on"
    );
    assert_eq!(frames + too_large, 256);
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_under_the_budget_whatever_viewers_ask() {
    let mut host = start(&[]).await;
    let victim = host
        .caller_as(datasource(9, "ds-v", json!({})), user("ada"))
        .expect("caller");
    let mut panel = victim_counter(&victim).await;
    // Viewers of four orgs each ask for 100 000-row channels until they are refused.
    let mut cut = 0;
    for org in 1..=4 {
        let caller = host
            .caller_as(datasource(org, "ds", json!({})), user("mallory"))
            .expect("caller");
        let queries: Vec<Query> = (0..60)
            .map(|i| {
                Query::new(
                    &format!("Q{i}"),
                    json!({"signal": "random", "seed": org * 1000 + i, "capacity": 100000}),
                )
                .with_max_data_points(10)
            })
            .collect();
        let answers = caller
            .query_data(&queries)
            .await
            .expect("QueryData answers");
        for a in answers.values() {
            if let Some(e) = &a.error {
                assert!(e.contains("memory limit reached"), "{e}");
            }
            let cut_notice = a.frames.iter().any(|f| {
                f.meta
                    .as_ref()
                    .is_some_and(|m| m.to_string().contains("instead of the 100000"))
            });
            cut += usize::from(cut_notice);
        }
    }
    assert!(
        cut >= 1,
        "a channel that does not fit whole is cut, with a notice"
    );
    keeps_streaming(&mut panel, 5, "with the budget used up").await;
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_wide_string_rows_is_cut_to_its_share_of_memory() {
    let broker = Mosquitto::start_with("max_queued_messages 0\n");
    let mut host = start(&[]).await;
    let ds = datasource(1, "mqtt", json!({"mqttUrl": broker.url()}));
    let attacker = host.caller_as(ds.clone(), user("mallory")).expect("caller");
    let victim = host.caller_as(ds, user("ada")).expect("caller");
    let mut publisher = Publisher::connect(broker.port).await;
    let query = Query::new(
        "A",
        json!({"source": "mqtt", "topic": "wide/t", "tickMs": 100, "capacity": 100000}),
    );
    let mut attack = LivePanel::open_as(&attacker, &query, buffer_options(10, None, false))
        .await
        .expect("the attacker's panel");
    let victim_query = Query::new(
        "V",
        json!({"source": "mqtt", "topic": "victim/t", "tickMs": 50}),
    );
    let mut panel = LivePanel::open_as(&victim, &victim_query, buffer_options(1000, None, false))
        .await
        .expect("the victim's panel");
    publisher
        .until_live("victim/t", r#"{"v":-1}"#, &mut panel)
        .await;
    publisher
        .until_live("wide/t", r#"{"f0":"x"}"#, &mut attack)
        .await;
    let before = panel.panel().len();
    // 255 string fields of 900 bytes: 230 KB a row; 600 rows are 138 MB, more than a
    // viewer's 64 MiB share.
    let value = "x".repeat(900);
    let row: Vec<String> = (0..255).map(|i| format!("\"f{i}\":\"{value}\"")).collect();
    let payload = format!("{{{}}}", row.join(","));
    for _ in 0..6 {
        publisher
            .publish_all(
                (0..100).map(|_| ("wide/t".to_owned(), payload.clone().into_bytes())),
                false,
            )
            .await;
    }
    attack
        .wait_until(Duration::from_secs(60), |p| {
            p.frame()
                .meta()
                .is_some_and(|m| m.to_string().contains("keeps its newest"))
        })
        .await
        .expect("the stream is cut, and says so");
    for i in 0..5 {
        publisher
            .publish("victim/t", format!(r#"{{"v":{i}}}"#))
            .await;
    }
    panel
        .wait_until(WAIT, |p| p.len() >= before + 5)
        .await
        .expect("the victim keeps streaming");
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewer_cannot_open_unbounded_websocket_connections() {
    let server = WsServer::start().await;
    let mut host = start(&[]).await;
    let ds = datasource(1, "ws", json!({"websocketUrl": server.url()}));
    let attacker = host.caller_as(ds.clone(), user("mallory")).expect("caller");
    let victim = host.caller_as(ds, user("ada")).expect("caller");
    let queries: Vec<Query> = (0..100)
        .map(|i| {
            Query::new(
                &format!("Q{i}"),
                json!({"source": "websocket", "path": format!("/feed?n={i}")}),
            )
        })
        .collect();
    let answers = attacker
        .query_data(&queries)
        .await
        .expect("QueryData answers");
    let opened = answers.values().filter(|a| a.error.is_none()).count();
    // 32 connections per data source (`max_websocket_connections`), a viewer's quarter: 8.
    assert_eq!(opened, 8, "{answers:?}");
    for a in answers.values().filter_map(|a| a.error.as_deref()) {
        assert!(a.contains("WebSocket connections limit reached"), "{a}");
    }
    let deadline = Instant::now() + WAIT;
    while server.open() < 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.peak() <= 8, "{} connections", server.peak());
    // Another viewer of the same data source still gets a feed.
    let query = Query::new(
        "V",
        json!({"source": "websocket", "path": "/victim", "tickMs": 50}),
    );
    let mut panel = LivePanel::open_as(&victim, &query, buffer_options(1000, None, false))
        .await
        .expect("the victim's feed");
    panel
        .wait_until(WAIT, |p| p.len() >= 5)
        .await
        .expect("the victim streams");
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cannot_repeat_or_override_the_admins_url_parameters() {
    let server = WsServer::start().await;
    let mut host = start(&[]).await;
    let ds = datasource(
        1,
        "ws",
        json!({"websocketUrl": format!("{}/feed?token=admin-token&tenant=t1", server.url())}),
    );
    let caller = host.caller_as(ds, user("mallory")).expect("caller");
    for path in ["/x?token=mine", "/x?TENANT=t2", "/x?a=1&token=", "/x?token"] {
        let answers = caller
            .query_data(&[Query::new(
                "A",
                json!({"source": "websocket", "path": path}),
            )])
            .await
            .expect("QueryData answers");
        let error = error_of(&answers, "A");
        assert!(
            error.contains("is set by the data source's URL"),
            "{path}: {error}"
        );
    }
    let query = Query::new("A", json!({"source": "websocket", "path": "/x?symbol=btc"}));
    let mut panel = LivePanel::open_as(&caller, &query, buffer_options(1000, None, false))
        .await
        .expect("its own parameters are fine");
    panel
        .wait_until(WAIT, |p| !p.is_empty())
        .await
        .expect("a row");
    assert!(
        server
            .targets()
            .contains(&"/feed/x?token=admin-token&tenant=t1&symbol=btc".to_owned()),
        "{:?}",
        server.targets()
    );
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_even_at_trace_level() {
    let server = WsServer::start().await;
    let broker = Mosquitto::start();
    let mut host = start(&[("RUST_LOG", "trace")]).await;
    let ds = DataSourceSettings {
        org_id: 1,
        uid: "secrets".into(),
        json_data: json!({
            "websocketUrl": server.url(),
            "httpHeaderName1": "Authorization",
            "mqttUrl": broker.url(),
            "mqttUsername": "reader",
        }),
        secure: [
            (
                "httpHeaderValue1".to_owned(),
                "Bearer ws-secret-7f3a9".to_owned(),
            ),
            ("mqttPassword".to_owned(), "mqtt-secret-b41c2".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..DataSourceSettings::default()
    };
    host.set_settings(ds);
    let health = host.check_health().await.expect("CheckHealth");
    assert_eq!(health.status, HealthStatus::Ok, "{}", health.message);
    let ws = Query::new(
        "W",
        json!({"source": "websocket", "path": "/feed", "tickMs": 50}),
    );
    let mut panel = LivePanel::open(&host, &ws, buffer_options(1000, None, false))
        .await
        .expect("the feed");
    panel
        .wait_until(WAIT, |p| p.len() >= 3)
        .await
        .expect("rows");
    let mqtt = Query::new("M", json!({"source": "mqtt", "topic": "t/#", "tickMs": 50}));
    let _mqtt = LivePanel::open(&host, &mqtt, buffer_options(1000, None, false))
        .await
        .expect("the MQTT stream");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = host.logs().join("\n");
    assert!(
        logs.contains(r#""@level":"DEBUG""#),
        "RUST_LOG=trace took effect:\n{logs}"
    );
    for secret in ["ws-secret-7f3a9", "mqtt-secret-b41c2"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_port_is_a_settings_error_naming_the_setting() {
    let mut host = start(&[]).await;
    for (key, url) in [
        ("mqttUrl", "mqtt://127.0.0.1:99999"),
        ("mqttUrl", "mqtt://127.0.0.1:18x3"),
        ("websocketUrl", "ws://127.0.0.1:70000/feed"),
    ] {
        host.set_settings(datasource(1, "bad", json!({ key: url })));
        let health = host.check_health().await.expect("CheckHealth");
        assert_eq!(health.status, HealthStatus::Error, "{url}");
        assert!(
            health.message.contains(key) && health.message.contains("port"),
            "{url}: {}",
            health.message
        );
    }
    assert_healthy(&mut host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_that_share_a_refid_each_get_their_answer() {
    let mut host = start(&[]).await;
    let answers = host
        .query_data(&[
            // Ahead: under load the plugin answers after a tick or two, and rows newer
            // than a range's end are not the frame's.
            Query::new("A", json!({"signal": "sine", "capacity": 10})).reaching_ahead(60_000),
            Query::new("A", json!({"signal": "counter", "capacity": 20})).reaching_ahead(60_000),
            Query::new("A", json!({"signal": "triangle"})),
        ])
        .await
        .expect("QueryData answers");
    let a = &answers["A"];
    let lens: Vec<usize> = a.frames.iter().map(|f| f.len()).collect();
    assert_eq!(lens, [10, 20], "both good queries answered");
    let error = a.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("query #3") && error.contains("`signal`"),
        "the bad one named: {error}"
    );
    assert_healthy(&mut host);
}
