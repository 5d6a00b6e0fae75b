//! The query model: defaults, each kind of bad input, and the field each error names.

use ringstream_plugin::query::{FeedSpec, Signal, SignalKind, StreamSpec};
use ringstream_plugin::source::{mqtt, websocket};

fn parse(json: &str) -> Result<StreamSpec, (String, String)> {
    StreamSpec::from_json_bytes(json.as_bytes()).map_err(|e| (e.field, e.problem))
}

#[test]
fn an_empty_query_is_the_default_random_walk() {
    let spec = parse("{}").unwrap();
    assert_eq!(spec, StreamSpec::default());
    assert_eq!(
        (spec.tick_ms, spec.capacity, spec.backfill),
        (100, 1000, true)
    );
    assert_eq!(
        parse("").unwrap(),
        StreamSpec::default(),
        "Grafana may send no body"
    );
}

#[test]
fn keys_grafana_adds_are_ignored() {
    let spec = parse(
        r#"{"refId":"A","datasource":{"type":"x","uid":"y"},"intervalMs":20000,
            "maxDataPoints":800,"hide":false,"signal":"random","tickMs":250}"#,
    )
    .unwrap();
    assert_eq!(spec.tick_ms, 250, "intervalMs is the panel's, not ours");
    assert_eq!(
        Signal::of(&spec),
        Some(Signal::Random { min: 0.0, max: 1.0 })
    );
}

#[test]
fn every_signal_kind_parses_with_its_parameters() {
    for kind in SignalKind::ALL {
        let spec = parse(&format!(r#"{{"signal":"{kind}","seed":7}}"#)).unwrap();
        let Some(signal) = Signal::of(&spec) else {
            panic!("a signal query: {spec:?}")
        };
        assert_eq!(signal.kind(), kind);
        assert_eq!(spec.seed(), Some(7));
    }
    let spec = parse(r#"{"signal":"sine","amplitude":3,"periodMs":2000,"offset":-1}"#).unwrap();
    assert_eq!(
        Signal::of(&spec),
        Some(Signal::Wave {
            kind: SignalKind::Sine,
            amplitude: 3.0,
            period_ms: 2000,
            offset: -1.0
        })
    );
}

#[test]
fn an_unknown_signal_names_the_field_and_the_allowed_values() {
    let (field, problem) = parse(r#"{"signal":"triangle"}"#).unwrap_err();
    assert_eq!(field, "signal");
    assert_eq!(
        problem,
        "unknown value \"triangle\"; allowed: random_walk, random, sine, square, sawtooth, counter"
    );
}

#[test]
fn an_unknown_source_names_the_allowed_ones() {
    let (field, problem) = parse(r#"{"source":"kafka"}"#).unwrap_err();
    assert_eq!(
        (field.as_str(), problem.as_str()),
        (
            "source",
            "unknown value \"kafka\"; allowed: signal, mqtt, websocket, nats, redis"
        )
    );
}

#[test]
fn wrong_types_are_named() {
    for (json, field, says) in [
        (
            r#"{"tickMs":"fast"}"#,
            "tickMs",
            "expected an integer, got a string",
        ),
        (r#"{"capacity":1.5}"#, "capacity", "out of range"),
        (
            r#"{"backfill":"yes"}"#,
            "backfill",
            "expected true or false, got a string",
        ),
        (r#"{"signal":3}"#, "signal", "expected a string"),
        (
            r#"{"signal":"random","min":"0"}"#,
            "min",
            "expected a number, got a string",
        ),
        (r#"{"seed":-1}"#, "seed", "out of range"),
    ] {
        let (f, problem) = parse(json).unwrap_err();
        assert_eq!(f, field, "{json}");
        assert!(problem.contains(says), "{json}: {problem}");
    }
}

#[test]
fn numbers_out_of_range_say_the_range() {
    let (f, p) = parse(r#"{"tickMs":5}"#).unwrap_err();
    assert_eq!(f, "tickMs");
    assert!(p.contains("10 ..= 3600000"), "{p}");
    let (f, p) = parse(r#"{"capacity":100001}"#).unwrap_err();
    assert_eq!(f, "capacity");
    assert!(p.contains("1 ..= 100000"), "{p}");
    let (f, p) = parse(r#"{"capacity":0}"#).unwrap_err();
    assert_eq!(f, "capacity");
    assert!(p.contains("1 ..= 100000"), "{p}");
    let (f, p) = parse(r#"{"signal":"random","min":2,"max":1}"#).unwrap_err();
    assert_eq!(
        (f.as_str(), p.as_str()),
        ("max", "must be greater than `min` (2), got 1")
    );
    let (f, _) = parse(r#"{"signal":"random_walk","spread":-1}"#).unwrap_err();
    assert_eq!(f, "spread");
    let (f, _) = parse(r#"{"signal":"counter","step":1e300}"#).unwrap_err();
    assert_eq!(f, "step");
}

#[test]
fn invalid_json_and_non_objects_are_refused() {
    let (f, p) = parse(r#"{"signal":"#).unwrap_err();
    assert_eq!(f, "(query)");
    assert!(p.starts_with("invalid JSON"), "{p}");
    let (_, p) = parse("[1,2]").unwrap_err();
    assert_eq!(p, "expected a JSON object");
    let huge = format!(r#"{{"x":"{}"}}"#, "a".repeat(70_000));
    let (_, p) = parse(&huge).unwrap_err();
    assert!(p.contains("at most 65536"), "{p}");
}

#[test]
fn nulls_mean_the_default() {
    assert_eq!(
        parse(r#"{"tickMs":null,"signal":null,"seed":null}"#).unwrap(),
        StreamSpec::default()
    );
}

#[test]
fn mqtt_queries_need_a_valid_topic_filter() {
    let spec = parse(r#"{"source":"mqtt","topic":"sensors/+/t","tickMs":50,"capacity":10,"fields":["b","a","b"]}"#).unwrap();
    assert_eq!(mqtt::topic(&spec), Some("sensors/+/t"));
    assert_eq!(
        FeedSpec::of(&spec),
        FeedSpec {
            time_path: None,
            fields: Some(vec!["a".into(), "b".into()]),
        }
    );
    assert_eq!((spec.tick_ms, spec.capacity, spec.seed()), (50, 10, None));
    for (query, field, needle) in [
        (r#"{"source":"mqtt"}"#, "topic", "required"),
        (r#"{"source":"mqtt","topic":"a/#/b"}"#, "topic", "last"),
        (
            r#"{"source":"mqtt","topic":"a/b+"}"#,
            "topic",
            "whole level",
        ),
        (r#"{"source":"mqtt","topic":"a\nb"}"#, "topic", "control"),
        (
            r#"{"source":"mqtt","topic":7}"#,
            "topic",
            "expected a string",
        ),
        (
            r#"{"source":"mqtt","topic":"a","fields":"x"}"#,
            "fields",
            "array",
        ),
        (
            r#"{"source":"mqtt","topic":"a","fields":[1]}"#,
            "fields",
            "strings",
        ),
        (r#"{"source":"mqtt","topic":"a","timePath":""}"#, "", ""),
        // What makes mosquitto drop the shared connection (MQTT 3.1.1 section 1.5.3).
        (
            r#"{"source":"mqtt","topic":"a/\uFFFF"}"#,
            "topic",
            "U+FFFF is a Unicode non-character",
        ),
        (
            r#"{"source":"mqtt","topic":"a/\uFDD0/b"}"#,
            "topic",
            "U+FDD0",
        ),
        (
            r#"{"source":"mqtt","topic":"\uD83F\uDFFE"}"#,
            "topic",
            "U+1FFFE",
        ),
        (r#"{"source":"mqtt","topic":"a\u0000"}"#, "topic", "control"),
        // Shared subscriptions would steal another application's messages.
        (
            r#"{"source":"mqtt","topic":"$share/g/a"}"#,
            "topic",
            "shared",
        ),
        (r#"{"source":"mqtt","topic":"$QUEUE/a"}"#, "topic", "shared"),
        (r#"{"source":"mqtt","topic":"$SYS/broker/uptime"}"#, "", ""),
    ] {
        match parse(query) {
            Ok(_) => assert!(field.is_empty(), "{query} was accepted"),
            Err((f, problem)) => {
                assert_eq!(f, field, "{query}: {problem}");
                assert!(problem.contains(needle), "{query}: {problem}");
            }
        }
    }
    let long = format!(r#"{{"source":"mqtt","topic":"{}"}}"#, "a".repeat(257));
    assert_eq!(parse(&long).unwrap_err().0, "topic");
}

#[test]
fn a_websocket_path_cannot_name_another_host() {
    let spec = parse(r#"{"source":"websocket","path":"/ws/btcusdt@trade?x=1"}"#).unwrap();
    assert_eq!(websocket::path(&spec), Some("/ws/btcusdt@trade?x=1"));
    for path in [
        "prices",
        "//evil.example/x",
        "/x/../admin",
        "/x/%2E%2e/admin",
        "/redirect?to=https://evil.example",
        "/a b",
        "/a#frag",
        "/a\\b",
    ] {
        let query = serde_json::json!({"source": "websocket", "path": path}).to_string();
        let (field, problem) = parse(&query).unwrap_err();
        assert_eq!(field, "path", "{path}");
        assert!(
            problem.contains("cannot name another host"),
            "{path}: {problem}"
        );
    }
    assert_eq!(parse(r#"{"source":"websocket"}"#).unwrap_err().0, "path");
}

#[test]
fn an_empty_fields_list_is_the_same_stream_as_none() {
    // Found by the query_json fuzz target: `"fields": []` made a spec its own channel path
    // did not give back.
    let with = StreamSpec::from_json_bytes(br#"{"source":"websocket","path":"/a?x=","fields":[]}"#)
        .unwrap();
    let without = StreamSpec::from_json_bytes(br#"{"source":"websocket","path":"/a?x="}"#).unwrap();
    assert_eq!(with, without);
    let path = ringstream_plugin::ChannelPath::of(&with);
    assert_eq!(
        ringstream_plugin::ChannelPath::parse(path.as_str())
            .unwrap()
            .1,
        with
    );
}
