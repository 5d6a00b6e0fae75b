//! Behaviour examples of `RingFrame`, named after what they guard.

use ringstream_frame::{
    AppendMode, Field, FieldConfig, FieldType, Notice, RingFrame, Severity, Value,
};

fn numbers(frame: &RingFrame, field: usize) -> Vec<Option<f64>> {
    frame
        .column(field)
        .unwrap()
        .map(|v| match v {
            Value::Number(x) => Some(x),
            Value::Null => None,
            other => panic!("not a number: {other:?}"),
        })
        .collect()
}

fn value_frame(capacity: usize, append: AppendMode) -> RingFrame {
    let mut frame = RingFrame::try_new(capacity, append).unwrap();
    frame
        .add_field(Field::new("value", FieldType::Number))
        .unwrap();
    frame
}

fn push_values(frame: &mut RingFrame, values: impl IntoIterator<Item = i32>) {
    for v in values {
        frame.push_row(&[Value::Number(v.into())]).unwrap();
    }
}

#[test]
fn tail_mode_drops_the_oldest_at_capacity() {
    let mut frame = value_frame(3, AppendMode::Tail);
    push_values(&mut frame, 1..=5);
    assert_eq!(numbers(&frame, 0), [Some(3.0), Some(4.0), Some(5.0)]);
    assert_eq!((frame.first_seq(), frame.next_seq()), (2, 5));
}

#[test]
fn head_mode_reads_newest_first() {
    let mut frame = value_frame(3, AppendMode::Head);
    push_values(&mut frame, 1..=2);
    assert_eq!(numbers(&frame, 0), [Some(2.0), Some(1.0)]);
    push_values(&mut frame, 3..=4);
    assert_eq!(numbers(&frame, 0), [Some(4.0), Some(3.0), Some(2.0)]);
    assert_eq!(frame.row(0).unwrap().seq(), 3);
}

#[test]
fn late_field_is_null_for_older_rows() {
    let mut frame = value_frame(2, AppendMode::Tail);
    push_values(&mut frame, 1..=3); // wrapped
    frame
        .add_field(Field::new("late", FieldType::String))
        .unwrap();
    frame
        .push_named(&[("late", Value::String("x")), ("value", Value::Number(4.0))])
        .unwrap();
    let late: Vec<_> = frame.column(1).unwrap().collect();
    assert_eq!(late, [Value::Null, Value::String("x")]);
    assert_eq!(numbers(&frame, 0), [Some(3.0), Some(4.0)]);
}

#[test]
fn shrinking_keeps_the_newest_rows_in_both_modes() {
    for append in [AppendMode::Tail, AppendMode::Head] {
        let mut frame = value_frame(5, append);
        push_values(&mut frame, 1..=7);
        frame.set_capacity(2).unwrap();
        let mut got = numbers(&frame, 0);
        if append == AppendMode::Head {
            got.reverse();
        }
        assert_eq!(got, [Some(6.0), Some(7.0)], "{append}");
        assert_eq!(frame.first_seq(), 5);
    }
}

#[test]
fn growing_after_wrap_keeps_order_and_grows_again() {
    let mut frame = value_frame(3, AppendMode::Tail);
    push_values(&mut frame, 1..=4);
    frame.set_capacity(5).unwrap();
    push_values(&mut frame, 5..=7);
    assert_eq!(
        numbers(&frame, 0),
        [Some(3.0), Some(4.0), Some(5.0), Some(6.0), Some(7.0)]
    );
}

#[test]
fn rows_since_reports_what_a_slow_consumer_missed() {
    let mut frame = value_frame(3, AppendMode::Head);
    push_values(&mut frame, 0..10);
    let since = frame.rows_since(5);
    assert_eq!(since.missed(), 2); // rows 5 and 6 were overwritten
    let seqs: Vec<u64> = since.into_iter().map(|r| r.seq()).collect();
    assert_eq!(seqs, [7, 8, 9], "push order, whatever the append mode");
    assert_eq!(frame.rows_since(10).into_iter().count(), 0);
    assert_eq!(frame.rows_since(99).missed(), 0);
}

#[test]
fn null_cells_read_back_as_null_even_after_overwrite() {
    let mut frame = value_frame(1, AppendMode::Tail);
    push_values(&mut frame, [1]);
    frame.push_row(&[Value::Null]).unwrap();
    assert_eq!(numbers(&frame, 0), [None]);
}

#[test]
fn schema_changes_bump_the_schema_version() {
    let mut frame = value_frame(2, AppendMode::Tail);
    let v0 = frame.schema_version();
    push_values(&mut frame, 1..=3);
    assert_eq!(frame.schema_version(), v0, "rows are not schema");
    frame.field_mut(0).unwrap().config = FieldConfig {
        unit: Some("celsius".into()),
        ..FieldConfig::default()
    };
    let v1 = frame.schema_version();
    assert!(v1 > v0);
    frame.meta_mut().notices.push(Notice {
        severity: Severity::Warning,
        text: "gap".into(),
    });
    assert!(frame.schema_version() > v1);
    assert_eq!(
        frame.field(0).unwrap().config.unit.as_deref(),
        Some("celsius")
    );
}

#[test]
fn clear_keeps_fields_and_sequence() {
    let mut frame = value_frame(2, AppendMode::Tail);
    push_values(&mut frame, 1..=3);
    frame.clear();
    assert!(frame.is_empty());
    assert_eq!(frame.first_seq(), 3);
    push_values(&mut frame, [9]);
    assert_eq!(numbers(&frame, 0), [Some(9.0)]);
    assert_eq!(frame.row(0).unwrap().seq(), 3);
}

#[test]
fn duplicate_names_are_all_filled_by_a_named_push() {
    let mut frame = RingFrame::new(2)
        .with_field(Field::new("v", FieldType::Number).with_labels([("topic", "a")]))
        .and_then(|f| {
            f.with_field(Field::new("v", FieldType::Number).with_labels([("topic", "b")]))
        })
        .unwrap();
    frame
        .push_named(&[("v", Value::Number(1.0)), ("v", Value::Number(2.0))])
        .unwrap();
    assert_eq!(frame.get(0, 0), Some(Value::Number(2.0)), "last key wins");
    assert_eq!(frame.get(0, 1), Some(Value::Number(2.0)));
}

#[test]
fn strings_that_were_huge_do_not_pin_memory_and_read_back() {
    let mut frame = RingFrame::new(1)
        .with_field(Field::new("s", FieldType::String))
        .unwrap();
    let big = "x".repeat(1 << 20);
    frame.push_row(&[Value::String(&big)]).unwrap();
    frame.push_row(&[Value::String("small")]).unwrap();
    assert_eq!(frame.get(0, 0), Some(Value::String("small")));
}
