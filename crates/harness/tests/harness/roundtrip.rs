//! The wire round trip: a snapshot taken at any moment plus every later delta, replayed
//! through the Live model (the Rust `StreamingDataFrame`), shows exactly the ring's rows,
//! for arbitrary interleavings of pushes, late fields, capacity changes and snapshots.

use proptest::prelude::*;
use ringstream_frame::json::{self, StreamEncoder};
use ringstream_frame::{Field, FieldType, RingFrame, Value};
use ringstream_harness::live::{Action, LiveFrame, LiveOptions, LiveValue};

#[derive(Debug, Clone)]
enum Op {
    /// A row: one seed per field (None: null).
    Push(Vec<Option<u32>>),
    AddField(FieldType),
    SetCapacity(usize),
    /// A new panel subscribes: snapshot now, deltas from here on.
    Snapshot,
    /// RunStream sends a packet to every panel.
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec(prop::option::weighted(0.85, any::<u32>()), 0..6).prop_map(Op::Push),
        1 => prop::sample::select(vec![FieldType::Number, FieldType::String, FieldType::Boolean, FieldType::Time])
            .prop_map(Op::AddField),
        1 => (1usize..20).prop_map(Op::SetCapacity),
        1 => Just(Op::Snapshot),
        3 => Just(Op::Tick),
    ]
}

/// A cell for field type `t` from a seed: unicode, quotes and control characters in strings,
/// NaN and ±Inf among numbers, whole milliseconds for times (Live drops sub-ms nanos).
fn cell(t: FieldType, seed: Option<u32>, buf: &mut String) -> Value<'_> {
    let Some(s) = seed else { return Value::Null };
    match t {
        FieldType::Time => Value::Time((1_700_000_000_000 + i64::from(s)) * 1_000_000),
        FieldType::Number => Value::Number(match s % 7 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => f64::from(s) / 8.0 - 1e5,
        }),
        FieldType::String => {
            buf.clear();
            buf.push_str(["é\"\\", "line\nbreak", "\u{1}", "plain", ""][s as usize % 5]);
            buf.push_str(&s.to_string());
            Value::String(buf)
        }
        FieldType::Boolean => Value::Boolean(s % 2 == 0),
    }
}

/// A ring cell as the panel would show it.
fn expected(v: Value<'_>) -> LiveValue {
    match v {
        Value::Null => LiveValue::Null,
        Value::Time(ns) => LiveValue::Number((ns / 1_000_000) as f64),
        Value::Number(x) => LiveValue::Number(x),
        Value::String(s) => LiveValue::String(s.to_owned()),
        Value::Boolean(b) => LiveValue::Boolean(b),
    }
}

fn same(a: &LiveValue, b: &LiveValue) -> bool {
    match (a, b) {
        (LiveValue::Number(x), LiveValue::Number(y)) => x.to_bits() == y.to_bits() || x == y,
        // A late field is null in the ring and undefined in the panel: both show as empty.
        (LiveValue::Null | LiveValue::Undefined, LiveValue::Null | LiveValue::Undefined) => true,
        _ => a == b,
    }
}

struct Panel {
    live: LiveFrame,
    encoder: StreamEncoder,
}

fn check(panel: &LiveFrame, ring: &RingFrame) -> Result<(), TestCaseError> {
    prop_assert_eq!(panel.fields().len(), ring.fields().len());
    prop_assert!(
        panel.len() >= ring.len(),
        "panel {} < ring {}",
        panel.len(),
        ring.len()
    );
    let skip = panel.len() - ring.len();
    for (j, (pf, rf)) in panel.fields().iter().zip(ring.fields()).enumerate() {
        prop_assert_eq!(&pf.name, rf.name());
        let want: Vec<LiveValue> = ring.column(j).unwrap().map(expected).collect();
        let got = &pf.values[skip..];
        prop_assert!(
            got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| same(a, b)),
            "field {}: panel {:?} != ring {:?}",
            rf.name(),
            got,
            want
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_plus_deltas_equals_the_ring(capacity in 1usize..20, ops in prop::collection::vec(op(), 0..80)) {
        let mut ring = RingFrame::new(capacity)
            .with_field(Field::new("time", FieldType::Time)).unwrap()
            .with_field(Field::new("value", FieldType::Number)).unwrap();
        let mut panels: Vec<Panel> = Vec::new();
        let mut out = String::new();
        let mut bufs: Vec<String> = Vec::new();
        // Pushes into a ring that drops rows: a panel must never fall behind by more than the
        // ring holds, so RunStream ticks before the ring wraps past a panel (as the hub does).
        for op in ops.into_iter().chain([Op::Tick]) {
            match op {
                Op::Push(seeds) => {
                    let types: Vec<FieldType> = ring.fields().iter().map(|f| f.field_type()).collect();
                    bufs.resize(types.len(), String::new());
                    let row: Vec<Value<'_>> = types.iter().zip(bufs.iter_mut()).enumerate()
                        .map(|(j, (t, buf))| cell(*t, seeds.get(j).copied().flatten(), buf))
                        .collect();
                    let before = ring.next_seq();
                    let behind = panels.iter().any(|p| before - p.encoder.next_seq() >= ring.capacity() as u64);
                    if behind {
                        continue;
                    }
                    ring.push_row(&row).unwrap();
                }
                Op::AddField(t) => {
                    let name = format!("f{}", ring.fields().len());
                    ring.add_field(Field::new(name, t)).unwrap();
                }
                Op::SetCapacity(n) => {
                    // Shrinking below what a panel has not yet received would lose rows for it.
                    if panels.iter().all(|p| ring.next_seq() - p.encoder.next_seq() <= n as u64) {
                        ring.set_capacity(n).unwrap();
                    }
                }
                Op::Snapshot => {
                    let mut live = LiveFrame::new(LiveOptions { max_length: 100_000, max_delta: None, action: Action::Append });
                    live.push_json(&json::snapshot(&ring)).unwrap();
                    let mut encoder = StreamEncoder::starting_at(ring.next_seq());
                    encoder.next_packet(&ring, &mut out); // the schema packet, no rows
                    check(&live, &ring)?;
                    panels.push(Panel { live, encoder });
                }
                Op::Tick => {
                    for p in &mut panels {
                        if let Some(packet) = p.encoder.next_packet(&ring, &mut out) {
                            prop_assert_eq!(packet.missed, 0);
                            p.live.push_json(&out).unwrap();
                        }
                    }
                }
            }
        }
        for p in &panels {
            check(&p.live, &ring)?;
        }
    }
}
