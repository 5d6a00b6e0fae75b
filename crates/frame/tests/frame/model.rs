//! Property: `RingFrame` behaves as a plain model (a `VecDeque` of rows in push order) over
//! arbitrary sequences of field additions, named and positional pushes, capacity and append
//! mode changes, and clears.

use std::collections::VecDeque;

use proptest::prelude::*;
use ringstream_frame::{AppendMode, Field, FieldType, FrameError, RingFrame, Value};

/// An owned cell, so the model needs no borrows.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Time(i64),
    Number(f64),
    String(String),
    Boolean(bool),
}

impl Cell {
    fn as_value(&self) -> Value<'_> {
        match self {
            Cell::Null => Value::Null,
            Cell::Time(t) => Value::Time(*t),
            Cell::Number(x) => Value::Number(*x),
            Cell::String(s) => Value::String(s),
            Cell::Boolean(b) => Value::Boolean(*b),
        }
    }

    fn from_value(v: Value<'_>) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Time(t) => Cell::Time(t),
            Value::Number(x) => Cell::Number(x),
            Value::String(s) => Cell::String(s.to_owned()),
            Value::Boolean(b) => Cell::Boolean(b),
        }
    }

    /// Compares NaN with NaN as equal: the ring stores bits, not arithmetic.
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Number(a), Cell::Number(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    AddField(FieldType),
    /// Seeds for each field's cell (type-correct, or null), plus whether to add an unknown key.
    PushNamed(Vec<Option<u64>>, bool),
    PushRow(Vec<Option<u64>>),
    SetCapacity(usize),
    SetAppend(AppendMode),
    Clear,
    ReadSince(u64),
}

fn cell_for(t: FieldType, seed: Option<u64>) -> Cell {
    let Some(s) = seed else { return Cell::Null };
    match t {
        FieldType::Time => Cell::Time(s as i64 - (1 << 40)),
        FieldType::Number => Cell::Number(match s % 5 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            _ => (s as f64) / 7.0 - 1e6,
        }),
        FieldType::String => Cell::String(
            ["", "a", "ünï\"\n", "long string value"][s as usize % 4].repeat(1 + s as usize % 3),
        ),
        FieldType::Boolean => Cell::Boolean(s % 2 == 0),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let seeds = prop::collection::vec(prop::option::weighted(0.8, any::<u64>()), 0..6);
    prop_oneof![
        1 => prop::sample::select(FieldType::ALL.to_vec()).prop_map(Op::AddField),
        6 => (seeds.clone(), any::<bool>()).prop_map(|(s, u)| Op::PushNamed(s, u)),
        6 => seeds.prop_map(Op::PushRow),
        1 => (1usize..12).prop_map(Op::SetCapacity),
        1 => prop::sample::select(vec![AppendMode::Tail, AppendMode::Head]).prop_map(Op::SetAppend),
        1 => Just(Op::Clear),
        2 => (0u64..60).prop_map(Op::ReadSince),
    ]
}

struct Model {
    fields: Vec<FieldType>,
    rows: VecDeque<Vec<Cell>>,
    capacity: usize,
    append: AppendMode,
    next_seq: u64,
}

impl Model {
    fn push(&mut self, row: Vec<Cell>) {
        if self.rows.len() == self.capacity {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
        self.next_seq += 1;
    }

    fn frame_order(&self) -> Vec<Vec<Cell>> {
        let mut rows: Vec<_> = self.rows.iter().cloned().collect();
        if self.append == AppendMode::Head {
            rows.reverse();
        }
        rows
    }
}

fn assert_same(frame: &RingFrame, model: &Model) {
    assert_eq!(frame.len(), model.rows.len());
    assert_eq!(frame.capacity(), model.capacity);
    assert_eq!(frame.next_seq(), model.next_seq);
    assert_eq!(frame.first_seq(), model.next_seq - model.rows.len() as u64);
    let want = model.frame_order();
    let got: Vec<Vec<Cell>> = frame
        .rows()
        .map(|r| r.values().map(Cell::from_value).collect())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| a.same(b)),
            "{g:?} != {w:?}"
        );
    }
    // Columns read the same cells as rows, and rows read backwards too.
    for j in 0..model.fields.len() {
        let column: Vec<Cell> = frame.column(j).unwrap().map(Cell::from_value).collect();
        assert!(column.iter().zip(&want).all(|(c, row)| c.same(&row[j])));
    }
    let back: Vec<u64> = frame.rows().rev().map(|r| r.seq()).collect();
    let fwd: Vec<u64> = frame.rows().map(|r| r.seq()).collect();
    assert_eq!(back.into_iter().rev().collect::<Vec<_>>(), fwd);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ring_frame_matches_a_vecdeque_model(
        capacity in 1usize..10,
        append in prop::sample::select(vec![AppendMode::Tail, AppendMode::Head]),
        ops in prop::collection::vec(op(), 0..120),
    ) {
        let mut frame = RingFrame::try_new(capacity, append).unwrap();
        let mut model = Model { fields: vec![], rows: VecDeque::new(), capacity, append, next_seq: 0 };
        for op in ops {
            match op {
                Op::AddField(t) => {
                    let j = frame.add_field(Field::new(format!("f{}", model.fields.len()), t)).unwrap();
                    prop_assert_eq!(j, model.fields.len());
                    model.fields.push(t);
                    for row in &mut model.rows { row.push(Cell::Null); }
                }
                Op::PushNamed(seeds, unknown) => {
                    let cells: Vec<Cell> = model.fields.iter().enumerate()
                        .map(|(j, t)| cell_for(*t, seeds.get(j).copied().flatten()))
                        .collect();
                    let names: Vec<String> = (0..cells.len()).map(|j| format!("f{j}")).collect();
                    // Keys given in reverse order, nulls omitted (a missing key is null).
                    let mut keyed: Vec<(&str, Value<'_>)> = names.iter().zip(&cells).rev()
                        .filter(|(_, c)| **c != Cell::Null)
                        .map(|(n, c)| (n.as_str(), c.as_value()))
                        .collect();
                    if unknown { keyed.push(("not-a-field", Value::Boolean(true))); }
                    if model.fields.is_empty() {
                        prop_assert_eq!(frame.push_named(&keyed), Err(FrameError::NoFields));
                        continue;
                    }
                    let seq = frame.push_named(&keyed).unwrap();
                    prop_assert_eq!(seq, model.next_seq);
                    model.push(cells);
                }
                Op::PushRow(seeds) => {
                    let cells: Vec<Cell> = model.fields.iter().enumerate()
                        .map(|(j, t)| cell_for(*t, seeds.get(j).copied().flatten()))
                        .collect();
                    let values: Vec<Value<'_>> = cells.iter().map(Cell::as_value).collect();
                    if model.fields.is_empty() {
                        prop_assert_eq!(frame.push_row(&values), Err(FrameError::NoFields));
                        continue;
                    }
                    frame.push_row(&values).unwrap();
                    model.push(cells);
                }
                Op::SetCapacity(n) => {
                    frame.set_capacity(n).unwrap();
                    model.capacity = n;
                    while model.rows.len() > n { model.rows.pop_front(); }
                }
                Op::SetAppend(mode) => {
                    frame.set_append_mode(mode);
                    model.append = mode;
                }
                Op::Clear => {
                    frame.clear();
                    model.rows.clear();
                }
                Op::ReadSince(seq) => {
                    let since = frame.rows_since(seq);
                    let first = model.next_seq - model.rows.len() as u64;
                    prop_assert_eq!(since.missed(), first.saturating_sub(seq));
                    let got: Vec<u64> = since.into_iter().map(|r| r.seq()).collect();
                    let want: Vec<u64> = (seq.max(first)..model.next_seq).collect();
                    prop_assert_eq!(got, want);
                }
            }
            assert_same(&frame, &model);
        }
    }
}
