//! A query's JSON, as Grafana sends it with QueryData, into `StreamSpec::from_json_bytes`.
//!
//! Invariants: a query that parses has one channel path, and that path names the same
//! stream (`ChannelPath::parse` gives back an equal spec and the same path), unless the path
//! is longer than a channel path may be (then parsing refuses it; QueryData refuses such a
//! query through `ChannelPath::channel_id`). A refused query names its field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstream_plugin::channel::MAX_PATH_LEN;
use ringstream_plugin::query::StreamSpec;
use ringstream_plugin::ChannelPath;

fuzz_target!(|data: &[u8]| {
    match StreamSpec::from_json_bytes(data) {
        Ok(spec) => {
            let path = ChannelPath::of(&spec);
            match ChannelPath::parse(path.as_str()) {
                Ok((parsed_path, parsed_spec)) => {
                    assert_eq!(parsed_path, path, "the path re-encodes differently");
                    assert_eq!(parsed_spec, spec, "the path {path} names another stream");
                }
                Err(e) => assert!(
                    path.as_str().len() > MAX_PATH_LEN,
                    "the path {path} of a valid query does not parse: {e}"
                ),
            }
        }
        Err(e) => assert!(!e.field.is_empty(), "an error without a field: {e}"),
    }
});
