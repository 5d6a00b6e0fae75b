//! Alert rules, the way Grafana's alerting evaluates them: QueryData only (no Live, no
//! RunStream), the headers of an evaluation (`FromAlert: true`), the scheduler's user, a
//! range relative to the evaluation's tick, again and again. The answer is every row of the
//! range, whatever any panel did or did not stream.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, stream};
use ringstream_harness::host::{DataSourceSettings, PluginHost, Query, User};
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::{NatsServer, RedisServer};

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// The scheduler's user, as alerting's scheduled evaluations carry it.
fn scheduler() -> Option<User> {
    Some(User {
        login: "grafana_scheduler".into(),
        role: "Admin".into(),
    })
}

/// The `n` values of an evaluation `window_ms` back from now.
async fn evaluate(host: &PluginHost, json: serde_json::Value, window_ms: i64) -> Vec<f64> {
    let now = now_ms();
    let query = Query::new("A", json)
        .with_time_range(now - window_ms, now)
        .with_max_data_points(43_200); // alerting's default
    let result = host
        .query_data_as_alert(&[query], "rule-1")
        .await
        .expect("QueryData answers");
    let answer = &result["A"];
    assert_eq!(answer.error, None, "status {}", answer.status);
    let frame = answer.frames.first().expect("one frame");
    frame
        .numbers("n")
        .or_else(|| frame.numbers("value"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_on_jetstream_read_the_range_from_the_stream_at_every_evaluation() {
    let server = NatsServer::start();
    let client = server.client().await;
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "ALERTS".into(),
        subjects: vec!["line.>".into()],
        ..stream::Config::default()
    })
    .await
    .expect("the stream");
    for n in 0..20 {
        js.publish("line.1.pressure", json!({ "n": n }).to_string().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }

    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "alert-nats".into(),
        json_data: json!({ "natsUrl": server.url() }),
        ..DataSourceSettings::default()
    });
    host.set_user(scheduler());
    let query = json!({"source": "nats", "subject": "line.1.pressure", "stream": "ALERTS"});
    let first = evaluate(&host, query.clone(), 10 * 60_000).await;
    assert_eq!(
        first,
        (0..20).map(f64::from).collect::<Vec<_>>(),
        "the stored range"
    );

    for n in 20..25 {
        js.publish("line.1.pressure", json!({ "n": n }).to_string().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
    let second = evaluate(&host, query.clone(), 10 * 60_000).await;
    assert_eq!(
        second,
        (0..25).map(f64::from).collect::<Vec<_>>(),
        "the next evaluation sees what came since"
    );

    // A plugin restart loses nothing an alert rule reads.
    host.restart().await.expect("the plugin restarts");
    let third = evaluate(&host, query, 10 * 60_000).await;
    assert_eq!(third, second);
}

/// XADDs `n i` to `key` for each `i` of `ns`.
fn xadd(conn: &mut redis::Connection, key: &str, ns: std::ops::Range<i32>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_on_a_redis_stream_read_the_range_from_the_stream_without_any_run_stream() {
    let server = RedisServer::start();
    let mut conn = server.client();
    xadd(&mut conn, "line:1:pressure", 0..20);
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "alert-redis".into(),
        json_data: json!({ "redisUrl": server.url() }),
        ..DataSourceSettings::default()
    });
    host.set_user(scheduler());
    let query = json!({"source": "redis", "key": "line:1:pressure"});
    let first = evaluate(&host, query.clone(), 10 * 60_000).await;
    assert_eq!(
        first,
        (0..20).map(f64::from).collect::<Vec<_>>(),
        "the stored range"
    );

    xadd(&mut conn, "line:1:pressure", 20..25);
    let second = evaluate(&host, query.clone(), 10 * 60_000).await;
    assert_eq!(
        second,
        (0..25).map(f64::from).collect::<Vec<_>>(),
        "the next evaluation sees what came since"
    );
    // A range that ends before the stream's entries holds none of them.
    let now = now_ms();
    let old = Query::new("A", query.clone())
        .with_time_range(now - 20 * 60_000, now - 10 * 60_000)
        .with_max_data_points(43_200);
    let result = host
        .query_data_as_alert(&[old], "rule-1")
        .await
        .expect("QueryData answers");
    let rows = result["A"].frames.first().map_or(0, |f| f.len());
    assert_eq!(rows, 0, "{:?}", result["A"]);

    host.restart().await.expect("the plugin restarts");
    let third = evaluate(&host, query, 10 * 60_000).await;
    assert_eq!(third, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_on_a_signal_see_the_rows_made_since_the_last_evaluation() {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_user(scheduler());
    let query = json!({"signal": "counter", "tickMs": 50, "capacity": 1000});
    let first = evaluate(&host, query.clone(), 60_000).await;
    assert_eq!(first.len(), 1000, "the backfilled history");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // No RunStream ever ran: the rows made since are unpublished, and an alert rule gets
    // them all the same.
    let second = evaluate(&host, query, 60_000).await;
    let newest = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    assert!(
        newest(&second) >= newest(&first) + 8.0,
        "rows since the first evaluation: {} then {}",
        newest(&first),
        newest(&second)
    );
    assert!(
        second.windows(2).all(|w| w[1] == w[0] + 1.0),
        "no gap, no repeat"
    );
}
