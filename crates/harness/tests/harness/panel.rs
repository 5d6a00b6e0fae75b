//! The panel model without a plugin: QueryData frames decoded from Arrow, and the order in
//! which Grafana's `LiveDataStream` pushes the query frame, initial data and packets.

use proptest::prelude::*;
use ringstream_frame::{json, Field, FieldConfig, FieldType, RingFrame, Value};
use ringstream_harness::live::{Action, LiveFrame, LiveOptions};
use ringstream_harness::panel::{buffer_options, Panel};
use ringstream_harness::query_frame::{Cell, QueryFrame};
use ringstream_harness::wire;
use ringstream_harness::HarnessError;

/// `frame` as a plugin sends it from QueryData: an Arrow IPC file.
fn arrow(frame: &RingFrame) -> Vec<u8> {
    let batch = ringstream_frame::arrow::to_record_batch(frame).unwrap();
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    bytes
}

fn frame_of_every_type() -> RingFrame {
    let mut frame = RingFrame::new(10)
        .with_field(Field::new("time", FieldType::Time))
        .unwrap()
        .with_field(
            Field::new("value", FieldType::Number)
                .with_labels([("host", "a")])
                .with_config(FieldConfig {
                    unit: Some("celsius".into()),
                    ..FieldConfig::default()
                }),
        )
        .unwrap()
        .with_field(Field::new("name", FieldType::String))
        .unwrap()
        .with_field(Field::new("up", FieldType::Boolean))
        .unwrap();
    frame.set_ref_id(Some("A".into()));
    frame.meta_mut().channel = Some("ds/uid/v1/x".into());
    let t = 1_700_000_000_000_000_000_i64;
    let rows = [
        [
            Value::Time(t),
            Value::Number(1.5),
            Value::String("é\"x"),
            Value::Boolean(true),
        ],
        [
            Value::Time(t + 1_000_001),
            Value::Number(f64::NAN),
            Value::Null,
            Value::Boolean(false),
        ],
        [
            Value::Time(t + 2_000_000),
            Value::Number(f64::NEG_INFINITY),
            Value::String(""),
            Value::Null,
        ],
        [
            Value::Null,
            Value::Number(f64::INFINITY),
            Value::String("z"),
            Value::Boolean(true),
        ],
    ];
    for row in &rows {
        frame.push_row(row).unwrap();
    }
    frame
}

#[test]
fn decodes_query_frames_from_arrow() {
    let decoded = QueryFrame::from_arrow_ipc(&arrow(&frame_of_every_type())).unwrap();
    assert_eq!(decoded.ref_id.as_deref(), Some("A"));
    assert_eq!(decoded.channel(), Some("ds/uid/v1/x"));
    assert_eq!(decoded.len(), 4);
    let value = decoded.field("value").unwrap();
    assert_eq!(value.labels["host"], "a");
    assert_eq!(value.config["unit"], "celsius");
    assert_eq!(
        decoded.fields[0].values[1],
        Cell::Time(1_700_000_000_001_000_001)
    );
    assert!(matches!(value.values[1], Cell::Number(x) if x.is_nan()));
    insta::assert_snapshot!("every_type_table", decoded.to_table());

    // dataFrameToJSON: times in ms with the sub-ms remainder in nanos, NaN/±Inf as entities.
    let message = decoded.to_data_frame_json();
    let data = message.data.unwrap();
    assert_eq!(data.values[0][1], serde_json::json!(1_700_000_000_001_i64));
    assert_eq!(data.nanos.unwrap()[0].as_ref().unwrap()[1], 1);
    let entities = data.entities.unwrap()[1].clone().unwrap();
    assert_eq!(
        (entities.nan, entities.neg_inf, entities.inf),
        (vec![1.0], vec![2.0], vec![3.0])
    );
}

#[test]
fn a_frame_reaches_a_panel_alike_through_arrow_and_through_json() {
    let frame = frame_of_every_type();
    let options = LiveOptions::default();
    let via_arrow = Panel::with_query_frame(
        &QueryFrame::from_arrow_ipc(&arrow(&frame)).unwrap(),
        options,
    )
    .unwrap();
    let mut via_json = LiveFrame::new(options);
    via_json.push_json(&json::snapshot(&frame)).unwrap();
    assert_eq!(
        via_arrow.frame().to_oracle_json(),
        via_json.to_oracle_json()
    );
}

proptest! {
    /// The Arrow encoding of QueryData and the DataFrameJSON encoding of streams describe
    /// the same frame: whatever the rows, a panel ends up with the same values either way.
    #[test]
    fn arrow_and_json_encodings_agree(
        rows in prop::collection::vec(
            (any::<Option<i32>>(), prop::option::of(prop_oneof![
                any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)
            ]), any::<Option<bool>>()),
            0..20,
        )
    ) {
        let mut frame = RingFrame::new(32)
            .with_field(Field::new("time", FieldType::Time)).unwrap()
            .with_field(Field::new("v", FieldType::Number)).unwrap()
            .with_field(Field::new("b", FieldType::Boolean)).unwrap();
        for (t, v, b) in &rows {
            frame.push_row(&[
                t.map_or(Value::Null, |t| Value::Time(i64::from(t) * 1_000_000)),
                v.map_or(Value::Null, Value::Number),
                b.map_or(Value::Null, Value::Boolean),
            ]).unwrap();
        }
        let options = LiveOptions::default();
        let via_arrow = Panel::with_query_frame(
            &QueryFrame::from_arrow_ipc(&arrow(&frame)).unwrap(), options).unwrap();
        let mut via_json = LiveFrame::new(options);
        via_json.push_json(&json::snapshot(&frame)).unwrap();
        prop_assert_eq!(via_arrow.frame().to_oracle_json(), via_json.to_oracle_json());
    }

    /// Bytes that are not a valid Arrow file, or a valid one damaged anywhere, give an error
    /// (or, if the damage hit only padding, a frame) and never a panic.
    #[test]
    fn bad_arrow_bytes_are_errors_not_panics(
        noise in prop::collection::vec(any::<u8>(), 0..300),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let _ = QueryFrame::from_arrow_ipc(&noise);
        let mut damaged = arrow(&frame_of_every_type());
        for (at, byte) in &flips {
            let i = at.index(damaged.len());
            damaged[i] ^= byte | 1;
        }
        if let Err(e) = QueryFrame::from_arrow_ipc(&damaged) {
            prop_assert!(matches!(e, HarnessError::Arrow(_)), "{e}");
        }
        let whole = arrow(&frame_of_every_type());
        let truncated = &whole[..cut.index(whole.len())];
        prop_assert!(QueryFrame::from_arrow_ipc(truncated).is_err());
    }
}

/// A tiny stream's messages, written by the same encoder as the plugin's.
fn counter(capacity: usize, values: &[f64]) -> RingFrame {
    let mut frame = RingFrame::new(capacity)
        .with_field(Field::new("time", FieldType::Time))
        .unwrap()
        .with_field(Field::new("value", FieldType::Number))
        .unwrap();
    for v in values {
        frame
            .push_row(&[Value::Time(*v as i64 * 1_000_000_000), Value::Number(*v)])
            .unwrap();
    }
    frame
}

#[test]
fn the_panel_takes_the_query_frame_then_initial_data_then_packets() {
    let query = QueryFrame::from_arrow_ipc(&arrow(&counter(10, &[1.0, 2.0, 3.0]))).unwrap();
    let mut panel = Panel::with_query_frame(&query, buffer_options(4, None, false)).unwrap();
    assert_eq!(panel.numbers("value").unwrap(), [1.0, 2.0, 3.0]);

    let mut stream = counter(10, &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let mut initial = String::new();
    json::write_rows(
        &stream,
        stream.rows_between(3, 5).rows(),
        true,
        &mut initial,
    );
    panel.push_initial(initial.as_bytes()).unwrap();
    panel.push_initial(b"").unwrap(); // no initial data: nothing changes
    assert_eq!(
        panel.numbers("value").unwrap(),
        [2.0, 3.0, 4.0, 5.0],
        "trimmed to maxLength 4"
    );

    stream
        .push_row(&[Value::Time(6_000_000_000), Value::Number(6.0)])
        .unwrap();
    let mut packet = String::new();
    json::write_rows(
        &stream,
        stream.rows_between(5, 6).rows(),
        false,
        &mut packet,
    );
    panel.push_packet(&wire::decode(&packet).unwrap()).unwrap();
    assert_eq!(panel.numbers("value").unwrap(), [3.0, 4.0, 5.0, 6.0]);
    assert_eq!(panel.pushes(), 3, "the empty initial data is not a push");
    assert_eq!(
        panel.to_table(),
        "\
| time (time)              | value (number) |
| ------------------------ | -------------- |
| 1970-01-01T00:00:03.000Z | 3              |
| 1970-01-01T00:00:04.000Z | 4              |
| 1970-01-01T00:00:05.000Z | 5              |
| 1970-01-01T00:00:06.000Z | 6              |
"
    );
}

#[test]
fn a_query_frame_is_pushed_only_while_the_buffer_has_no_packet() {
    let query = QueryFrame::from_arrow_ipc(&arrow(&counter(10, &[1.0, 2.0]))).unwrap();
    let mut panel = Panel::new(buffer_options(100, None, false));
    assert!(panel.push_query_frame(&query).unwrap());
    // A second subscriber's query frame is skipped: the buffer has a packet with rows.
    assert!(!panel.push_query_frame(&query).unwrap());
    assert_eq!(panel.len(), 2);
    // `hasAtLeastOnePacket` is about the last push: after a schema-only message it is false.
    let mut schema = String::new();
    json::write_message(&counter(1, &[]), json::Include::SchemaOnly, &mut schema);
    panel.push_packet(&wire::decode(&schema).unwrap()).unwrap();
    assert!(!panel.has_at_least_one_packet());
    assert!(panel.push_query_frame(&query).unwrap());
    assert_eq!(panel.len(), 4, "appended, as the library does");
}

#[test]
fn buffer_options_follow_the_query() {
    let o = buffer_options(500, Some((1_000, 61_000)), true);
    assert_eq!(
        (o.max_length, o.max_delta, o.action),
        (500, Some(60_000.0), Action::Append)
    );
    assert_eq!(buffer_options(0, Some((1, 2)), false).max_delta, None);
    assert_eq!(buffer_options(0, None, true).max_length, 1);
}

#[test]
fn an_arrow_footer_claiming_more_than_the_file_holds_is_refused_without_allocating_it() {
    // Found by the `arrow_frame` fuzz target: arrow-ipc's reader would allocate and zero the
    // ~4 GiB the footer of these 2 377 bytes claims.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/arrow_frame/oom-52638b9184ad8b146656ae4b1c8002c7e058987f"
    );
    let bytes = std::fs::read(path).expect("the committed regression input");
    let err = QueryFrame::from_arrow_ipc(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("claims") && err.contains("the file has 2377"),
        "{err}"
    );
}
