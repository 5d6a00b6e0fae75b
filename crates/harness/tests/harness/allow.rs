//! Admin allow lists (`mqttAllow`, …) through the real binary on a real mosquitto: every way
//! a viewer names a topic — QueryData, an alert rule, a channel path in SubscribeStream or
//! RunStream, the editor's resources — is held to the list, with an error naming the
//! parameter, its value and the setting.

use std::time::Duration;

use ringstream_harness::host::{
    channel_path, DataSourceSettings, PluginHost, Query, StreamStatus, User,
};
use serde_json::json;

use crate::plugin_exe::plugin_exe;
use crate::servers::Mosquitto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_confines_queries_paths_and_resources_to_its_topics() {
    let broker = Mosquitto::start();
    assert!(broker.publish("plant/a", r#"{"temp":20}"#, true));
    assert!(broker.publish("office/a", r#"{"temp":30}"#, true));
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "allow".into(),
        json_data: json!({"mqttUrl": broker.url(), "mqttAllow": "plant/#\nlab/+/temp"}),
        ..DataSourceSettings::default()
    });
    host.set_user(Some(User {
        login: "nobody".into(),
        role: "None".into(),
    }));

    let allowed = Query::new("A", json!({"source": "mqtt", "topic": "plant/+"}));
    let outside = Query::new("B", json!({"source": "mqtt", "topic": "office/a"}));
    let wider = Query::new("C", json!({"source": "mqtt", "topic": "#"}));
    let answers = host
        .query_data(&[allowed, outside.clone(), wider])
        .await
        .expect("QueryData");
    let a = &answers["A"];
    assert!(a.error.is_none(), "{a:?}");
    for (id, value) in [("B", "office/a"), ("C", "#")] {
        let e = answers[id].error.as_deref().unwrap_or_default();
        assert_eq!(answers[id].status, 403, "{e}");
        for part in ["`topic`", value, "`mqttAllow`"] {
            assert!(e.contains(part), "{id}: {part} missing from {e}");
        }
    }
    let alert = host
        .query_data_as_alert(&[outside], "rule")
        .await
        .expect("QueryData");
    assert_eq!(alert["B"].status, 403, "{:?}", alert["B"]);

    // A channel path is a query too: one made for an allowed topic, edited, is refused.
    let path = channel_path(a.frames[0].channel().expect("a channel"), "allow")
        .unwrap()
        .to_owned();
    assert!(path.contains("plant"), "{path}");
    let forged = path.replace("plant", "office");
    let reply = host.subscribe(&forged).await.expect("SubscribeStream");
    assert_eq!(reply.status, StreamStatus::PermissionDenied);
    let Err(e) = host.run_stream(&forged).await else {
        panic!("RunStream ran a forged path");
    };
    let e = e.to_string();
    assert!(e.contains("not allowed"), "{e}");
    // The allowed path still streams: the refusal cost it nothing.
    assert_eq!(
        host.subscribe(&path).await.unwrap().status,
        StreamStatus::Ok
    );

    // Discovery shows only what a query could read, and browses nothing else.
    let (status, body) = host
        .call_resource("GET", "topics?source=mqtt&filter=office%2F%23", b"")
        .await
        .unwrap();
    assert_eq!(
        (status, body["field"].clone()),
        (403, json!("filter")),
        "{body}"
    );
    assert!(body["error"].to_string().contains("mqttAllow"), "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = host
            .call_resource("GET", "topics?source=mqtt&limit=100", b"")
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let topics: Vec<&str> = body["topics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        assert!(!topics.contains(&"office/a"), "{topics:?}");
        if topics.contains(&"plant/a") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "plant/a never discovered: {topics:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = format!(
        "fields?query={}",
        r#"{"source":"mqtt","topic":"office/a"}"#
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let (status, _) = host.call_resource("GET", &url, b"").await.unwrap();
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_allow_pattern_is_a_settings_error_naming_the_item() {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "allow".into(),
        json_data: json!({"mqttUrl": "mqtt://127.0.0.1:1", "mqttAllow": "plant/#/x"}),
        ..DataSourceSettings::default()
    });
    let health = host.check_health().await.expect("CheckHealth");
    assert!(
        health.message.contains("mqttAllow") && health.message.contains("plant/#/x"),
        "{health:?}"
    );
}
