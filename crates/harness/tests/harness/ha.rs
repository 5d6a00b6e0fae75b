//! Two plugin processes, as two nodes of an HA Grafana run them: each answers the same query
//! with the same rows, for the sources whose rows do not depend on the process — seeded
//! signals (functions of seed and time), JetStream and Redis streams (read from the engine).

use std::time::Duration;

use ringstream_harness::host::{PluginHost, Query};
use ringstream_harness::query_frame::QueryFrame;
use serde_json::json;

use crate::nats_e2e::{make_stream, plugin_on, publish};
use crate::plugin_exe::plugin_exe;
use crate::redis_e2e::{add, plugin_on as redis_plugin_on};
use crate::servers::{now_ms, NatsServer, RedisServer};

/// Each frame's (time, value) cells, bit for bit.
fn cells(frame: &QueryFrame, value: &str) -> Vec<(u64, u64)> {
    let times = frame.numbers("time").expect("a time field");
    let values = frame.numbers(value).expect("the value field");
    times
        .iter()
        .zip(&values)
        .map(|(t, v)| (t.to_bits(), v.to_bits()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugin_processes_give_a_seeded_signal_the_same_rows() {
    let first = PluginHost::start(plugin_exe()).await.expect("node 1");
    let to = now_ms() - 5_000;
    let queries: Vec<Query> = [
        json!({"signal": "random_walk", "seed": 9, "spread": 2, "tickMs": 100, "capacity": 1000}),
        json!({"signal": "random", "seed": 9, "min": -1, "max": 1, "tickMs": 100, "capacity": 1000}),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, q)| Query::new(&format!("Q{i}"), q).with_time_range(to - 40_000, to))
    .collect();
    let on_first = first
        .query_data(&queries)
        .await
        .expect("QueryData on node 1");
    // The second node opens its streams later, with another history and another clock phase.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let second = PluginHost::start(plugin_exe()).await.expect("node 2");
    let on_second = second
        .query_data(&queries)
        .await
        .expect("QueryData on node 2");
    for q in &queries {
        let (a, b) = (
            &on_first[&q.ref_id].frames[0],
            &on_second[&q.ref_id].frames[0],
        );
        let (a, b) = (cells(a, "value"), cells(b, "value"));
        assert_eq!(a.len(), 400, "{}: rows of the range", q.ref_id);
        assert!(a == b, "{}: the nodes disagree", q.ref_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugin_processes_answer_a_jetstream_range_with_the_same_rows() {
    let server = NatsServer::start();
    let client = server.client().await;
    let js = make_stream(&client, "PLANT", &["plant.>"]).await;
    let from = now_ms() - 1_000;
    publish(&js, "plant.a.temp", 0..60).await;
    let first = plugin_on(&server, "ha").await;
    let second = plugin_on(&server, "ha").await;
    let query = Query::new(
        "A",
        json!({"source": "nats", "subject": "plant.a.temp", "stream": "PLANT", "capacity": 1000}),
    )
    .with_time_range(from, now_ms() + 1_000);
    // Node 1 has had its channel a while (and more published since); node 2 is new.
    let early = first
        .query_data(std::slice::from_ref(&query))
        .await
        .unwrap();
    assert_eq!(early["A"].frames[0].numbers("n").unwrap().len(), 60);
    publish(&js, "plant.a.temp", 60..70).await;
    let query = query.with_time_range(from, now_ms() + 1_000);
    for (name, host) in [("node 1", &first), ("node 2", &second)] {
        let alert = host
            .query_data_as_alert(std::slice::from_ref(&query), "rule")
            .await;
        let frame = &alert.unwrap()["A"].frames[0];
        let want: Vec<f64> = (0..70).map(f64::from).collect();
        assert_eq!(
            frame.numbers("n").unwrap(),
            want,
            "{name}: the alert's range"
        );
        let times = cells(frame, "n");
        let other = second
            .query_data_as_alert(std::slice::from_ref(&query), "rule")
            .await;
        assert!(
            times == cells(&other.unwrap()["A"].frames[0], "n"),
            "{name}: times differ"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugin_processes_answer_a_redis_stream_range_with_the_same_rows() {
    let server = RedisServer::start();
    let mut conn = server.client();
    let from = now_ms() - 1_000;
    add(&mut conn, "sensor:1", 0..50);
    let first = redis_plugin_on(&server, "ha").await;
    let query = Query::new(
        "A",
        json!({"source": "redis", "key": "sensor:1", "capacity": 1000}),
    )
    .with_time_range(from, now_ms() + 1_000);
    let early = first
        .query_data(std::slice::from_ref(&query))
        .await
        .unwrap();
    assert_eq!(early["A"].frames[0].numbers("n").unwrap().len(), 50);
    add(&mut conn, "sensor:1", 50..60);
    let second = redis_plugin_on(&server, "ha").await;
    let query = query.with_time_range(from, now_ms() + 1_000);
    let mut answers = Vec::new();
    for host in [&first, &second] {
        let alert = host
            .query_data_as_alert(std::slice::from_ref(&query), "rule")
            .await;
        let frame = alert.unwrap()["A"].frames[0].clone();
        let want: Vec<f64> = (0..60).map(f64::from).collect();
        assert_eq!(frame.numbers("n").unwrap(), want);
        answers.push(cells(&frame, "n"));
    }
    assert!(answers[0] == answers[1], "the nodes disagree on row times");
}
