//! The editor's resources (CallResource) through the real binary: validation as QueryData
//! would answer, topic discovery on a real mosquitto (what the shared connection saw, and a
//! short browse of its own), and the fields an open stream has. Hostile input gets a named
//! error, never a channel or a host of its choosing.

use std::time::Duration;

use ringstream_harness::host::{DataSourceSettings, LivePanel, PluginHost, Query, User};
use ringstream_harness::panel::buffer_options;
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::Mosquitto;

const WAIT: Duration = Duration::from_secs(15);

async fn host_for(broker: &Mosquitto) -> PluginHost {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "res".into(),
        json_data: json!({"mqttUrl": broker.url()}),
        ..DataSourceSettings::default()
    });
    // A viewer without an org role (Grafana 10.2+ sends `None`) may call them too.
    host.set_user(Some(User {
        login: "nobody".into(),
        role: "None".into(),
    }));
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_the_field_as_query_data_would() {
    let broker = Mosquitto::start();
    let host = host_for(&broker).await;
    let (status, body) = host
        .call_resource(
            "POST",
            "validate",
            br#"{"source":"mqtt","topic":"a/\uFFFF"}"#,
        )
        .await
        .expect("CallResource");
    assert_eq!(status, 200);
    assert_eq!(body["ok"], false);
    assert_eq!(body["field"], "topic");
    assert!(
        body["problem"].as_str().unwrap().contains("non-character"),
        "{body}"
    );
    let (_, body) = host
        .call_resource(
            "POST",
            "validate",
            br#"{"signal":"random","min":3,"max":1}"#,
        )
        .await
        .unwrap();
    assert_eq!(
        (body["ok"].clone(), body["field"].clone()),
        (json!(false), json!("max"))
    );
    let (_, body) = host
        .call_resource(
            "POST",
            "validate",
            br#"{"source":"mqtt","topic":"plant/+/t"}"#,
        )
        .await
        .unwrap();
    assert_eq!(body, json!({"ok": true}));
    // Unknown resources and methods are named; nothing else happens.
    let (status, body) = host.call_resource("GET", "../../admin", b"").await.unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, _) = host.call_resource("GET", "validate", b"").await.unwrap();
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_discovered_on_the_data_sources_broker() {
    let broker = Mosquitto::start();
    for (topic, v) in [("plant/a/temp", 20), ("plant/b/temp", 21), ("other/x", 1)] {
        assert!(broker.publish(topic, &format!(r#"{{"temp":{v}}}"#), true));
    }
    let host = host_for(&broker).await;
    // No stream yet: the plugin browses with a short connection of its own.
    let (status, body) = host
        .call_resource("GET", "topics?source=mqtt&filter=plant%2F%23&limit=10", b"")
        .await
        .expect("CallResource");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["topics"],
        json!(["plant/a/temp", "plant/b/temp"]),
        "{body}"
    );
    assert_eq!(body["truncated"], false);
    let (_, body) = host
        .call_resource("GET", "topics?source=mqtt&limit=1", b"")
        .await
        .unwrap();
    assert_eq!(body["topics"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["truncated"], true);
    // A filter the query layer refuses is refused here, by name.
    let (status, body) = host
        .call_resource("GET", "topics?source=mqtt&filter=a%2F%23%2Fb", b"")
        .await
        .unwrap();
    assert_eq!(
        (status, body["field"].clone()),
        (400, json!("filter")),
        "{body}"
    );
    let (status, body) = host
        .call_resource("GET", "topics?source=mqtt&limit=100000", b"")
        .await
        .unwrap();
    assert_eq!(
        (status, body["field"].clone()),
        (400, json!("limit")),
        "{body}"
    );
    // A source with nothing to discover answers an empty list.
    let (_, body) = host
        .call_resource("GET", "topics?source=signal", b"")
        .await
        .unwrap();
    assert_eq!(body["topics"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_are_those_the_open_stream_has() {
    let broker = Mosquitto::start();
    assert!(broker.publish("plant/a", r#"{"temp":20,"state":"on"}"#, true));
    let host = host_for(&broker).await;
    let query = json!({"source": "mqtt", "topic": "plant/a", "tickMs": 50});
    let url = format!("fields?query={}", crate::percent_encode(&query.to_string()));
    let (_, body) = host.call_resource("GET", &url, b"").await.unwrap();
    assert_eq!(
        body["fields"],
        json!([]),
        "no stream is opened by asking: {body}"
    );
    let mut panel = LivePanel::open(
        &host,
        &Query::new("A", query),
        buffer_options(100, None, false),
    )
    .await
    .expect("a panel");
    panel
        .wait_until(WAIT, |p| !p.is_empty())
        .await
        .expect("the retained row");
    let (_, body) = host.call_resource("GET", &url, b"").await.unwrap();
    assert_eq!(
        body["fields"],
        json!([
            {"name": "time", "type": "time"},
            {"name": "temp", "type": "number"},
            {"name": "state", "type": "string"}
        ])
    );
    let (status, body) = host
        .call_resource("GET", "fields?query=%7B%22tickMs%22%3A1%7D", b"")
        .await
        .unwrap();
    assert_eq!(
        (status, body["field"].clone()),
        (400, json!("tickMs")),
        "{body}"
    );
}
