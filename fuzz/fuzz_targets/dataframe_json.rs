//! DataFrameJSON messages, as Grafana Live delivers a streaming plugin's packets to a panel,
//! into the harness's decoder (`wire::decode_slice`) and then `LiveFrame::push`.
//!
//! Input: one or more messages separated by 0xFF (never a byte of UTF-8); each one that
//! decodes is pushed, in order, into two frames: one appending with a short `maxLength` and
//! a finite `maxDelta` (so every trim path runs), one replacing.
//!
//! Invariants: the `&str` and `&[u8]` decoders agree; an append that succeeds leaves at most
//! `maxLength` rows; replace keeps exactly the message's first column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstream_harness::live::{Action, LiveFrame, LiveOptions};
use ringstream_harness::wire::{self, DataFrameJson};

const APPEND: LiveOptions = LiveOptions {
    max_length: 4,
    max_delta: Some(1_000.0),
    action: Action::Append,
};
const REPLACE: LiveOptions = LiveOptions {
    max_length: 4,
    max_delta: None,
    action: Action::Replace,
};

fuzz_target!(|data: &[u8]| {
    let mut append = LiveFrame::new(APPEND);
    let mut replace = LiveFrame::new(REPLACE);
    for message in data.split(|&b| b == 0xFF) {
        let decoded = wire::decode_slice(message);
        if let Ok(text) = std::str::from_utf8(message) {
            match (&decoded, wire::decode(text)) {
                (Ok(a), Ok(b)) => assert_eq!(a, &b, "decode and decode_slice differ"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("decode_slice: {a:?}, decode: {b:?}"),
            }
        }
        let Ok(msg) = decoded else { continue };
        let rows = first_column_len(&msg);

        let had_rows = !append.is_empty();
        if append.push(&msg).is_ok() && had_rows && rows > 0 {
            assert!(
                append.len() <= APPEND.max_length,
                "{} rows kept",
                append.len()
            );
        }
        if replace.push(&msg).is_ok() && rows > 0 {
            assert_eq!(replace.len(), rows, "replace keeps the message's rows");
        }
    }
});

/// The rows a message's data carries: its first column, the one `push` looks at.
fn first_column_len(msg: &DataFrameJson) -> usize {
    msg.data
        .as_ref()
        .and_then(|d| d.values.first())
        .map_or(0, Vec::len)
}
