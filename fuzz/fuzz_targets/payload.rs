//! MQTT / WebSocket message payloads into rows: `source::payload::RowBuilder` filling a
//! `RingFrame`, as a feed does for one channel.
//!
//! Input: byte 0 picks the builder's options (bit 0: one series per topic; bits 1-2: the
//! time path; bit 3: a `fields` filter; bits 4-7: the ring's capacity, 1..=16), the rest is
//! the messages, separated by 0xFF (never a byte of UTF-8, so a valid payload cannot contain
//! it). Message i comes from topic `TOPICS[i % 3]`.
//!
//! Invariants after every message: each call is counted once; every message is a row or
//! skipped (`rows + skipped == messages`), and `ingest` says which; the ring holds at most
//! its capacity (`min(rows, capacity)` rows exactly) and at most `payload::MAX_FIELDS`
//! fields.
//!
//! Kept to this one file, with the builder's API used in `ingest` only, so that it is easy
//! to adapt when that API changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstream_frame::{AppendMode, RingFrame};
use ringstream_plugin::source::payload::{RowBuilder, MAX_FIELDS};

const TOPICS: [&str; 3] = ["sensors/a/temperature", "sensors/b/temperature", "plant/x"];
const TIME_PATHS: [Option<&str>; 4] = [None, Some("ts"), Some("meta.time"), Some("value")];

/// One message into the ring; whether it became a row.
fn ingest(builder: &mut RowBuilder, ring: &mut RingFrame, topic: &str, payload: &[u8]) -> bool {
    builder.ingest(ring, topic, payload, 1_700_000_000_000)
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, messages)) = data.split_first() else {
        return;
    };
    let per_topic = options & 1 != 0;
    let time_path = TIME_PATHS[usize::from(options >> 1 & 3)].map(str::to_owned);
    let keep = (options & 8 != 0).then(|| vec!["value".to_owned(), "a.b".to_owned()]);
    let capacity = usize::from(options >> 4) + 1;

    let mut ring = RingFrame::try_new(capacity, AppendMode::Tail).unwrap();
    for field in RowBuilder::initial_fields() {
        ring.add_field(field).unwrap();
    }
    let mut builder = RowBuilder::new(time_path, keep, per_topic);
    for (i, payload) in messages.split(|&b| b == 0xFF).enumerate() {
        let before = builder.stats();
        let pushed = ingest(&mut builder, &mut ring, TOPICS[i % TOPICS.len()], payload);
        let stats = builder.stats();
        let calls = i as u64 + 1;
        assert_eq!(stats.messages, calls, "messages counts each call");
        assert_eq!(
            stats.rows + stats.skipped(),
            calls,
            "a row or skipped: {stats:?}"
        );
        assert_eq!(
            stats.rows - before.rows,
            u64::from(pushed),
            "ingest's answer"
        );
        assert!(
            ring.len() <= ring.capacity(),
            "{} rows in a ring of {capacity}",
            ring.len()
        );
        assert_eq!(ring.len() as u64, stats.rows.min(capacity as u64));
        assert!(
            ring.fields().len() <= MAX_FIELDS,
            "{} fields",
            ring.fields().len()
        );
    }
});
