//! Every `FrameError`, each from the call that produces it, and the frame unchanged after.

use ringstream_frame::{
    AppendMode, Field, FieldType, FrameError, RingFrame, Value, MAX_CAPACITY, MAX_FIELDS,
};

fn two_fields() -> RingFrame {
    RingFrame::new(4)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .unwrap()
}

#[test]
fn zero_capacity_is_rejected_at_creation_and_on_change() {
    assert_eq!(
        RingFrame::try_new(0, AppendMode::Tail).unwrap_err(),
        FrameError::ZeroCapacity
    );
    let mut frame = two_fields();
    assert_eq!(frame.set_capacity(0).unwrap_err(), FrameError::ZeroCapacity);
    assert_eq!(frame.capacity(), 4);
}

#[test]
fn capacity_above_the_maximum_is_rejected() {
    let err = RingFrame::try_new(MAX_CAPACITY + 1, AppendMode::Head).unwrap_err();
    assert_eq!(
        err,
        FrameError::CapacityTooLarge {
            got: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        }
    );
    assert!(err.to_string().contains("16777216"), "{err}");
    assert!(RingFrame::try_new(MAX_CAPACITY, AppendMode::Tail).is_ok());
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn new_panics_on_zero_capacity_as_documented() {
    let _ = RingFrame::new(0);
}

#[test]
fn unknown_field_type_names_the_allowed_ones() {
    let err = "float".parse::<FieldType>().unwrap_err();
    assert_eq!(err, FrameError::UnknownFieldType("float".into()));
    assert_eq!(
        err.to_string(),
        "unknown field type \"float\": expected one of time, number, string, boolean"
    );
    for t in FieldType::ALL {
        assert_eq!(t.as_str().parse::<FieldType>().unwrap(), t);
    }
}

#[test]
fn unknown_append_mode_names_the_allowed_ones() {
    let err = "middle".parse::<AppendMode>().unwrap_err();
    assert_eq!(err, FrameError::UnknownAppendMode("middle".into()));
    assert!(err.to_string().contains("expected tail or head"));
    assert_eq!("head".parse::<AppendMode>().unwrap(), AppendMode::Head);
}

#[test]
fn wrong_type_by_position_is_rejected_and_nothing_is_written() {
    let mut frame = two_fields();
    frame
        .push_row(&[Value::Time(1), Value::Number(1.0)])
        .unwrap();
    let err = frame
        .push_row(&[Value::Time(2), Value::String("2.0")])
        .unwrap_err();
    assert_eq!(
        err,
        FrameError::TypeMismatch {
            field: "value".into(),
            expected: FieldType::Number,
            got: FieldType::String
        }
    );
    assert_eq!(
        err.to_string(),
        "field \"value\" holds number values, got a string value"
    );
    assert_eq!(frame.len(), 1);
    assert_eq!(frame.next_seq(), 1);
}

#[test]
fn wrong_type_by_name_is_rejected_and_nothing_is_written() {
    let mut frame = two_fields();
    let err = frame
        .push_named(&[
            ("value", Value::Number(1.0)),
            ("time", Value::Boolean(true)),
        ])
        .unwrap_err();
    assert!(matches!(
        err,
        FrameError::TypeMismatch { ref field, expected: FieldType::Time, got: FieldType::Boolean }
            if field == "time"
    ));
    assert!(frame.is_empty());
    // An unknown key of any type is ignored, not a mismatch.
    frame
        .push_named(&[("other", Value::Boolean(true))])
        .unwrap();
    assert_eq!(frame.get(0, 0), Some(Value::Null));
}

#[test]
fn row_length_must_match_the_fields() {
    let mut frame = two_fields();
    assert_eq!(
        frame.push_row(&[Value::Time(1)]).unwrap_err(),
        FrameError::RowLength {
            expected: 2,
            got: 1
        }
    );
    assert!(frame.is_empty());
}

#[test]
fn fields_are_bounded() {
    let mut frame = RingFrame::new(1);
    for i in 0..MAX_FIELDS {
        frame
            .add_field(Field::new(format!("f{i}"), FieldType::Number))
            .unwrap();
    }
    assert_eq!(
        frame
            .add_field(Field::new("one-too-many", FieldType::Number))
            .unwrap_err(),
        FrameError::TooManyFields { max: MAX_FIELDS }
    );
    assert_eq!(frame.fields().len(), MAX_FIELDS);
}

#[test]
fn rows_need_fields() {
    let mut frame = RingFrame::new(3);
    assert_eq!(frame.push_row(&[]).unwrap_err(), FrameError::NoFields);
    assert_eq!(
        frame
            .push_named(&[("value", Value::Number(1.0))])
            .unwrap_err(),
        FrameError::NoFields
    );
    assert_eq!((frame.len(), frame.next_seq()), (0, 0));
}
