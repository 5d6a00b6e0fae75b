//! Channel paths: canonical round trips, and untrusted input refused without panics.

use proptest::prelude::*;
use ringstream_plugin::channel::{ChannelPath, MAX_PATH_LEN};
use ringstream_plugin::query::{Signal, SignalKind, SourceSpec, StreamSpec};
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
        .prop_map(|(signal, tick_ms, capacity, seed, backfill)| StreamSpec {
            source: SourceSpec::Signal(signal),
            tick_ms,
            capacity,
            seed,
            backfill,
        })
}

proptest! {
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
