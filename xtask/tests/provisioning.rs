//! The committed Grafana setup — `provisioning/` and `docker-compose.yaml` — parses, and its
//! parts name each other consistently: the plugin id of plugin.json, the data source uid the
//! dashboard uses, the mounts Grafana reads them from, and the MQTT, NATS and Redis servers.
//! (Docker does not run here; these tests only read the files.)

use std::fs;
use std::path::PathBuf;

use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn plugin_id() -> String {
    let manifest: Value = serde_json::from_str(&read("plugin.json")).unwrap();
    manifest["id"].as_str().unwrap().to_string()
}

/// The one provisioned data source.
fn datasource() -> Value {
    let file = yaml("provisioning/datasources/ringstream.yaml");
    assert_eq!(file["apiVersion"], 1);
    let list = file["datasources"].as_array().expect("a datasources list");
    assert_eq!(list.len(), 1);
    list[0].clone()
}

fn dashboard() -> Value {
    serde_json::from_str(&read("provisioning/dashboards/ringstream-live.json"))
        .expect("the dashboard is JSON")
}

fn compose() -> Value {
    yaml("docker-compose.yaml")
}

#[test]
fn the_datasource_names_the_plugin_and_the_broker() {
    let ds = datasource();
    assert_eq!(ds["type"], plugin_id().as_str());
    assert_eq!(ds["uid"], "ringstream");
    assert!(ds["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(ds["jsonData"]["mqttUrl"], "mqtt://mosquitto:1883");
    assert_eq!(ds["jsonData"]["natsUrl"], "nats://nats:4222");
    assert_eq!(ds["jsonData"]["redisUrl"], "redis://redis:6379");

    // Only settings the backend reads.
    let known = [
        "mqttUrl",
        "mqttUsername",
        "mqttClientId",
        "natsUrl",
        "natsUser",
        "redisUrl",
        "redisUser",
        "redisDatabase",
        "websocketUrl",
        "tlsSkipVerify",
        "tlsAuthWithCACert",
        "httpHeaderName1",
    ];
    for key in ds["jsonData"].as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "unknown jsonData key {key}");
    }
    let secure = [
        "mqttPassword",
        "natsPassword",
        "redisPassword",
        "tlsCACert",
        "httpHeaderValue1",
    ];
    if let Some(secrets) = ds["secureJsonData"].as_object() {
        for key in secrets.keys() {
            assert!(
                secure.contains(&key.as_str()),
                "unknown secureJsonData key {key}"
            );
        }
    }
}

#[test]
fn the_dashboard_provider_reads_the_dashboard_folder() {
    let file = yaml("provisioning/dashboards/ringstream.yaml");
    assert_eq!(file["apiVersion"], 1);
    let providers = file["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0]["type"], "file");
    // docker-compose.yaml mounts ./provisioning at /etc/grafana/provisioning.
    assert_eq!(
        providers[0]["options"]["path"],
        "/etc/grafana/provisioning/dashboards"
    );
    assert!(root()
        .join("provisioning/dashboards/ringstream-live.json")
        .is_file());
}

#[test]
fn the_dashboard_streams_the_tutorial_signal_an_mqtt_topic_and_two_streams() {
    let dashboard = dashboard();
    let id = plugin_id();
    let uid = datasource()["uid"].as_str().unwrap().to_string();
    let expected_ds = json!({ "type": id, "uid": uid });

    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert_eq!(
        dashboard["refresh"], "",
        "refresh is off: the panels stream"
    );
    assert_eq!(dashboard["time"], json!({ "from": "now-5m", "to": "now" }));

    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids: Vec<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");

    let mut targets = Vec::new();
    for panel in panels {
        assert_eq!(panel["type"], "timeseries", "{}", panel["title"]);
        assert_eq!(panel["datasource"], expected_ds, "{}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"], expected_ds);
            assert!(target["refId"].is_string());
            // The query as the backend reads it: everything but refId and datasource.
            let mut query = target.as_object().unwrap().clone();
            query.remove("refId");
            query.remove("datasource");
            targets.push(Value::Object(query));
        }
    }
    assert!(targets.contains(
        &json!({ "source": "signal", "signal": "random", "tickMs": 100, "capacity": 1000 })
    ));
    assert!(targets.contains(&json!({ "source": "mqtt", "topic": "sensors/#" })));
    assert!(targets.contains(&json!({ "source": "nats", "subject": "plant.>", "stream": "PLANT" })));
    assert!(targets.contains(&json!({ "source": "redis", "key": "sensor:1" })));

    // The panels' grid cells do not overlap and fit the 24-column grid.
    let mut cells = std::collections::HashSet::new();
    for panel in panels {
        let pos = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| pos[k].as_i64().unwrap());
        assert!(x >= 0 && w > 0 && x + w <= 24, "{}", panel["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{} overlaps", panel["title"]);
            }
        }
    }
}

#[test]
fn compose_runs_grafana_with_dist_and_provisioning_mounted() {
    let compose = compose();
    let id = plugin_id();
    let grafana = &compose["services"]["grafana"];
    assert!(grafana["image"]
        .as_str()
        .unwrap()
        .starts_with("grafana/grafana:"));
    assert_eq!(
        grafana["environment"]["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"],
        id.as_str()
    );
    let volumes: Vec<&str> = grafana["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mounted = |from: &str, to: &str| {
        volumes.iter().any(|v| {
            let mut parts = v.split(':');
            parts.next() == Some(from) && parts.next() == Some(to)
        })
    };
    assert!(
        mounted("./dist", &format!("/var/lib/grafana/plugins/{id}")),
        "{volumes:?}"
    );
    assert!(
        mounted("./provisioning", "/etc/grafana/provisioning"),
        "{volumes:?}"
    );
    assert!(root().join("provisioning").is_dir());

    // The home dashboard path points into the provisioning mount.
    let home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str()
        .unwrap();
    let local = home.replace("/etc/grafana/provisioning", "provisioning");
    assert!(root().join(local).is_file(), "{home}");
}

#[test]
fn compose_runs_a_broker_the_datasource_reaches() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let mosquitto = &services["mosquitto"];
    assert!(mosquitto["image"]
        .as_str()
        .unwrap()
        .starts_with("eclipse-mosquitto:"));

    // mqtt://mosquitto:1883 names this service and the port its config listens on.
    let url = datasource()["jsonData"]["mqttUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let host_port = url.strip_prefix("mqtt://").unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    assert!(services.contains_key(host), "no service {host}");

    let config_mount = mosquitto["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .find(|v| v.contains(":/mosquitto/config/mosquitto.conf"))
        .expect("the broker's config is mounted");
    let config = read(config_mount.split(':').next().unwrap());
    let lines: Vec<&str> = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("listener {port}"))),
        "{config}"
    );
    assert!(lines.contains(&"allow_anonymous true"), "{config}");

    // Something publishes under the dashboard's topic sensors/#.
    let publisher = services["sensors"]["command"].to_string();
    assert!(publisher.contains("mosquitto_pub -h mosquitto -t sensors/"));
}

#[test]
fn compose_runs_nats_and_redis_the_datasource_reaches_with_publishers() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let ds = datasource();
    let host_port = |key: &str, scheme: &str| {
        let url = ds["jsonData"][key].as_str().unwrap().to_string();
        let rest = url.strip_prefix(scheme).unwrap().to_string();
        let (host, port) = rest.split_once(':').unwrap();
        (host.to_string(), port.to_string())
    };
    let publishes = |service: &str, port: &str| {
        services[service]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with(&format!(":{port}")))
    };

    // nats://nats:4222: the NATS server with JetStream, its store on a named volume.
    let (host, port) = host_port("natsUrl", "nats://");
    let nats = &services[&host];
    assert!(nats["image"].as_str().unwrap().starts_with("nats:"));
    let args: Vec<&str> = nats["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"-js"), "{args:?}");
    assert!(publishes(&host, &port));

    // redis://redis:6379: Redis with its append-only file.
    let (host, port) = host_port("redisUrl", "redis://");
    let redis = &services[&host];
    assert!(redis["image"].as_str().unwrap().starts_with("redis:"));
    assert!(redis["command"].to_string().contains("appendonly"));
    assert!(publishes(&host, &port));

    // Named volumes, so the streams' history outlives `docker compose down`/`up`.
    let named = compose["volumes"].as_object().expect("named volumes");
    for service in [nats, redis] {
        let volume = service["volumes"][0].as_str().unwrap();
        assert!(
            named.contains_key(volume.split(':').next().unwrap()),
            "{volume}"
        );
    }

    // Publishers for the dashboard's NATS and Redis panels.
    let script = |service: &str| {
        services[service]["command"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let nats_publisher = script("nats-sensors");
    assert!(nats_publisher.contains("stream add PLANT --subjects 'plant.>'"));
    assert!(nats_publisher.contains("--defaults"), "non-interactive");
    assert!(nats_publisher.contains("nats pub \"plant."));
    let redis_publisher = script("redis-sensors");
    assert!(redis_publisher.contains("XADD sensor:1 MAXLEN"));

    // Grafana starts after all three servers.
    let depends: Vec<&str> = services["grafana"]["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for server in ["mosquitto", "nats", "redis"] {
        assert!(depends.contains(&server), "{depends:?}");
    }
}
