//! An untrusted channel path (any viewer can ask SubscribeStream/RunStream for any path)
//! into `ChannelPath::parse`.
//!
//! Invariants: a path that parses is canonical (the spec re-encodes to exactly the input),
//! is within `MAX_PATH_LEN`, and its channel id fits Grafana's limit exactly when the
//! `ds/<uid>/` prefix leaves room for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstream_plugin::channel::{MAX_CHANNEL_LEN, MAX_PATH_LEN};
use ringstream_plugin::ChannelPath;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return; // Grafana hands the plugin a string
    };
    let Ok((path, spec)) = ChannelPath::parse(input) else {
        return;
    };
    assert_eq!(path.as_str(), input, "parse returned another path");
    assert_eq!(
        ChannelPath::of(&spec).as_str(),
        input,
        "the spec re-encodes differently"
    );
    assert!(
        input.len() <= MAX_PATH_LEN,
        "{} bytes accepted",
        input.len()
    );
    let uid = "P0123456789";
    let fits = "ds/".len() + uid.len() + 1 + input.len() <= MAX_CHANNEL_LEN;
    assert_eq!(path.channel_id(uid).is_ok(), fits, "channel id limit");
});
