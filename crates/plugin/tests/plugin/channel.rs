//! Channel paths: canonical round trips, and untrusted input refused without panics.

use proptest::prelude::*;
use ringstream_plugin::channel::{ChannelPath, MAX_PATH_LEN};
use ringstream_plugin::query::{FeedSpec, Signal, SignalKind, StreamSpec};
use ringstream_plugin::source::{mqtt, websocket};
use ringstream_plugin::PluginError;

#[test]
fn the_default_path_reads_as_its_parameters() {
    let path = ChannelPath::of(&StreamSpec::default());
    assert_eq!(
        path.as_str(),
        "v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1"
    );
    assert_eq!(
        path.channel_id("P1234").unwrap(),
        "ds/P1234/v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1"
    );
}

#[test]
fn equal_queries_share_a_path_and_parameters_of_other_kinds_do_not_count() {
    let a = StreamSpec::from_json_bytes(br#"{"signal":"random","min":0,"max":1,"amplitude":5}"#)
        .unwrap();
    let b = StreamSpec::from_json_bytes(br#"{"max":1.0,"signal":"random"}"#).unwrap();
    assert_eq!(ChannelPath::of(&a), ChannelPath::of(&b));
}

#[test]
fn non_canonical_and_malformed_paths_are_not_found() {
    for bad in [
        "",
        "v2/random/min=0/max=1/tick=100/cap=1000/backfill=1",
        "v1/random/max=1/min=0/tick=100/cap=1000/backfill=1", // order
        "v1/random/min=0/max=1/tick=100/cap=1000/backfill=1/backfill=1",
        "v1/random/min=0.0/max=1/tick=100/cap=1000/backfill=1", // not shortest
        "v1/random/min=-0/max=1/tick=100/cap=1000/backfill=1",
        "v1/random/min=0/max=1/tick=5/cap=1000/backfill=1", // tick below limit
        "v1/random/min=0/max=1/tick=100/cap=1000000/backfill=1",
        "v1/random/min=1/max=0/tick=100/cap=1000/backfill=1",
        "v1/nope/tick=100/cap=1000/backfill=1",
        "v1/random/min=0/max=1/tick=100/cap=1000/backfill=yes",
        "v1/random/min=NaN/max=1/tick=100/cap=1000/backfill=1",
        "v1/random/min=0/max=inf/tick=100/cap=1000/backfill=1",
        "v1/random/min=0/max=1/tick=100/cap=1000/host=evil/backfill=1",
        "../../etc/passwd",
        "v1/random/min=0/max=1/tick=100/cap=1000/backfill=1?x",
    ] {
        assert!(
            matches!(ChannelPath::parse(bad), Err(PluginError::BadPath(_))),
            "{bad:?} was accepted"
        );
    }
    let long = format!("v1/{}", "a".repeat(MAX_PATH_LEN));
    let err = ChannelPath::parse(&long).unwrap_err().to_string();
    assert!(err.contains("longer than"), "{err}");
    assert!(err.len() < 200, "the error echoes only a prefix: {err}");
}

fn spec_strategy() -> impl Strategy<Value = StreamSpec> {
    let num = prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|x| x as f64),
        (-1e12f64..1e12),
        Just(0.1),
        Just(-2.5e-7),
    ];
    let signal = prop_oneof![
        (num.clone(), (0.0f64..1e6))
            .prop_map(|(start, spread)| Signal::RandomWalk { start, spread }),
        (num.clone(), (1e-6f64..1e6)).prop_map(|(min, w)| Signal::Random { min, max: min + w }),
        (
            prop::sample::select(vec![
                SignalKind::Sine,
                SignalKind::Square,
                SignalKind::Sawtooth
            ]),
            num.clone(),
            1u64..100_000_000,
            num.clone()
        )
            .prop_map(|(kind, amplitude, period_ms, offset)| Signal::Wave {
                kind,
                amplitude,
                period_ms,
                offset
            }),
        (num.clone(), num).prop_map(|(offset, step)| Signal::Counter { offset, step }),
    ];
    (
        signal,
        10u64..=3_600_000,
        1usize..=100_000,
        prop::option::of(0u64..=1 << 53),
        any::<bool>(),
    )
        .prop_map(|(signal, tick_ms, capacity, seed, backfill)| {
            signal.spec(tick_ms, capacity, seed, backfill)
        })
}

#[test]
fn mqtt_and_websocket_paths_escape_topics_readably() {
    let spec = StreamSpec::from_json_bytes(
        br#"{"source":"mqtt","topic":"sensors/+/temp.c","timePath":"meta.ts","fields":["b","a"]}"#,
    )
    .unwrap();
    let path = ChannelPath::of(&spec);
    assert_eq!(
        path.as_str(),
        "v1/mqtt/tick=100/cap=1000/backfill=1/time=meta.ts/field=a/field=b/topic/sensors/=2B/temp=2Ec"
    );
    assert_eq!(ChannelPath::parse(path.as_str()).unwrap().1, spec);

    let spec =
        StreamSpec::from_json_bytes(br#"{"source":"websocket","path":"/feed?symbol=BTC&x=1"}"#)
            .unwrap();
    let path = ChannelPath::of(&spec);
    assert_eq!(
        path.as_str(),
        "v1/ws/tick=100/cap=1000/backfill=1/path/feed=3Fsymbol=3DBTC=26x=3D1"
    );
    assert_eq!(ChannelPath::parse(path.as_str()).unwrap().1, spec);

    // `#`, spaces and non-ASCII topics round-trip too.
    let spec = StreamSpec::from_json_bytes(
        r#"{"source":"mqtt","topic":"häuser/wohn zimmer/#"}"#.as_bytes(),
    )
    .unwrap();
    let path = ChannelPath::of(&spec);
    assert!(
        path.as_str()
            .ends_with("/topic/h=C3=A4user/wohn=20zimmer/=23"),
        "{path}"
    );
    assert_eq!(ChannelPath::parse(path.as_str()).unwrap().1, spec);
}

#[test]
fn feed_paths_are_canonical_and_validated_like_queries() {
    for bad in [
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/a/=2b", // lower-case hex
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/a=2Fb", // `/` escaped in a topic
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/a/.",   // `.` not escaped
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/a/=2B=2B", // `++` is no filter
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/=23/a", // `#` not last
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/",      // no topic
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/=FF",   // not UTF-8
        "v1/mqtt/tick=100/cap=1000/backfill=1/topic/=0A",   // control character
        "v1/mqtt/tick=100/cap=1000/backfill=1",             // no topic segment
        "v1/mqtt/cap=1000/tick=100/backfill=1/topic/a",     // order
        "v1/mqtt/tick=100/cap=1000/backfill=1/field=b/field=a/topic/a", // fields unsorted
        "v1/mqtt/tick=100/cap=1000/backfill=1/time=a/time=b/topic/a",
        "v1/mqtt/tick=100/cap=1000/backfill=1/host=evil/topic/a",
        "v1/ws/tick=100/cap=1000/backfill=1/path/=2F=2Fevil.com", // //host
        "v1/ws/tick=100/cap=1000/backfill=1/path/a/=2E=2E/b",     // ..
        "v1/ws/tick=100/cap=1000/backfill=1/path/http=3A=2F=2Fx", // ://
    ] {
        assert!(
            matches!(ChannelPath::parse(bad), Err(PluginError::BadPath(_))),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn an_over_long_feed_channel_is_an_error_on_the_query() {
    let topic = "a/".repeat(100);
    let spec = StreamSpec::from_json_bytes(
        format!(r#"{{"source":"mqtt","topic":"{topic}x"}}"#).as_bytes(),
    )
    .unwrap();
    let err = ChannelPath::of(&spec)
        .channel_id("P1234")
        .unwrap_err()
        .to_string();
    assert!(err.contains("160") && err.contains("MQTT topic"), "{err}");
}

fn feed_strategy() -> impl Strategy<Value = StreamSpec> {
    let level = prop_oneof![Just("+".to_owned()), "[a-zA-Z0-9 ._$ä-]{0,6}",];
    let topic = (prop::collection::vec(level, 1..5), any::<bool>())
        .prop_map(|(levels, hash)| {
            let mut t = levels.join("/");
            if hash {
                t.push_str("/#");
            }
            t
        })
        .prop_filter("a topic filter is not empty", |t| !t.is_empty());
    let key = "[a-z._ -]{1,8}";
    let feed = (
        prop::option::of(key),
        prop::option::of(prop::collection::btree_set(key, 1..3)),
    )
        .prop_map(|(time_path, fields)| FeedSpec {
            time_path,
            fields: fields.map(|f| f.into_iter().collect()),
        });
    #[derive(Debug, Clone)]
    enum Feed {
        Mqtt(String),
        WebSocket(String),
    }
    let source = prop_oneof![
        topic.prop_map(Feed::Mqtt),
        "/[a-zA-Z0-9/?=&%_-]{0,20}".prop_filter_map("not a valid path", |path| {
            (!path.starts_with("//")).then_some(Feed::WebSocket(path))
        }),
    ];
    (
        source,
        feed,
        10u64..=3_600_000,
        1usize..=100_000,
        any::<bool>(),
    )
        .prop_map(|(source, feed, tick_ms, capacity, backfill)| match source {
            Feed::Mqtt(topic) => mqtt::spec(&topic, &feed, tick_ms, capacity, backfill),
            Feed::WebSocket(path) => websocket::spec(&path, &feed, tick_ms, capacity, backfill),
        })
}

proptest! {
    #[test]
    fn every_feed_stream_has_one_path_that_parses_back(spec in feed_strategy()) {
        let path = ChannelPath::of(&spec);
        prop_assert!(path.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"_-=/.".contains(&b)));
        prop_assert!(!path.as_str().split('/').any(|seg| seg == "." || seg == ".."), "{}", path);
        if path.as_str().len() <= MAX_PATH_LEN {
            let (back, parsed) = ChannelPath::parse(path.as_str()).unwrap();
            prop_assert_eq!(&back, &path);
            prop_assert_eq!(parsed, spec);
        }
    }

    #[test]
    fn every_stream_has_one_path_that_parses_back(spec in spec_strategy()) {
        let path = ChannelPath::of(&spec);
        prop_assert!(path.as_str().len() <= MAX_PATH_LEN, "{}", path);
        prop_assert!(path.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"_-=/.".contains(&b)));
        let (back, parsed) = ChannelPath::parse(path.as_str()).unwrap();
        prop_assert_eq!(&back, &path);
        prop_assert_eq!(ChannelPath::of(&parsed), path);
    }

    #[test]
    fn arbitrary_paths_never_panic(s in "\\PC{0,200}") {
        let _ = ChannelPath::parse(&s);
    }

    #[test]
    fn path_like_garbage_never_panics(s in "[a-z0-9=/._-]{0,160}") {
        if let Ok((path, _)) = ChannelPath::parse(&s) {
            prop_assert_eq!(path.as_str(), s.as_str());
        }
    }
}
