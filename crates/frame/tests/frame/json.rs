//! DataFrameJSON: exact messages for small frames, escaping and numbers that read back
//! exactly, and the stream encoder's schema-once rule.

use proptest::prelude::*;
use ringstream_frame::json::{self, Include, StreamEncoder};
use ringstream_frame::{
    Field, FieldConfig, FieldType, FrameMeta, Notice, RingFrame, Severity, Value,
};
use serde_json::{json, Value as Json};

fn tutorial(capacity: usize) -> RingFrame {
    RingFrame::new(capacity)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .unwrap()
}

fn parse(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn snapshot_holds_schema_and_rows_in_frame_order() {
    let mut frame = tutorial(2);
    frame.set_name(Some("signal".into()));
    frame.set_ref_id(Some("A".into()));
    frame.meta_mut().channel = Some("ds/uid/signal/v1".into());
    for (t, v) in [(1_000, 0.5), (2_000, 1.0), (3_000, -2.25)] {
        frame
            .push_row(&[Value::Time(t * 1_000_000), Value::Number(v)])
            .unwrap();
    }
    assert_eq!(
        json::snapshot(&frame),
        concat!(
            r#"{"schema":{"name":"signal","refId":"A","meta":{"typeVersion":[0,0],"channel":"ds/uid/signal/v1"},"#,
            r#""fields":[{"name":"time","type":"time","typeInfo":{"frame":"time.Time","nullable":true}},"#,
            r#"{"name":"value","type":"number","typeInfo":{"frame":"float64","nullable":true}}]},"#,
            r#""data":{"values":[[2000,3000],[1,-2.25]]}}"#
        )
    );
}

#[test]
fn schema_only_and_data_only_messages() {
    let mut frame = tutorial(4);
    frame.push_row(&[Value::Time(0), Value::Null]).unwrap();
    let mut out = String::new();
    json::write_message(&frame, Include::SchemaOnly, &mut out);
    assert!(parse(&out).get("data").is_none());
    assert!(parse(&out)["schema"]["fields"].is_array());
    out.clear();
    json::write_message(&frame, Include::DataOnly, &mut out);
    assert_eq!(out, r#"{"data":{"values":[[0],[null]]}}"#);
}

#[test]
fn sub_millisecond_times_carry_nanos() {
    let mut frame = tutorial(4);
    frame
        .push_row(&[Value::Time(5_000_000), Value::Number(1.0)])
        .unwrap();
    frame.push_row(&[Value::Null, Value::Number(2.0)]).unwrap();
    frame
        .push_row(&[Value::Time(6_000_123), Value::Number(3.0)])
        .unwrap();
    frame
        .push_row(&[Value::Time(-1), Value::Number(4.0)])
        .unwrap();
    let msg = parse(&json::snapshot(&frame));
    assert_eq!(msg["data"]["values"][0], json!([5, null, 6, -1]));
    assert_eq!(msg["data"]["nanos"], json!([[0, 0, 123, 999_999], null]));
    // Whole milliseconds only: no nanos at all.
    let whole = parse(&json::snapshot(&tutorial(1)));
    assert!(whole["data"].get("nanos").is_none());
}

#[test]
fn non_finite_numbers_are_null_with_entities() {
    let mut frame = tutorial(8);
    for x in [
        1.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2.0,
        f64::NAN,
    ] {
        frame.push_row(&[Value::Time(0), Value::Number(x)]).unwrap();
    }
    let msg = parse(&json::snapshot(&frame));
    assert_eq!(
        msg["data"]["values"][1],
        json!([1.5, null, null, null, 2, null])
    );
    assert_eq!(
        msg["data"]["entities"],
        json!([null, {"NaN": [1, 5], "Inf": [2], "NegInf": [3]}])
    );
}

#[test]
fn labels_config_and_notices_are_in_the_schema() {
    let mut frame = RingFrame::new(1)
        .with_field(
            Field::new("temp", FieldType::Number)
                .with_labels([("topic", "sensors/a"), ("site", "x\"y")])
                .with_config(FieldConfig {
                    display_name: Some("Temperature".into()),
                    unit: Some("celsius".into()),
                    decimals: Some(2),
                    min: Some(-40.0),
                    max: Some(f64::INFINITY),
                    ..FieldConfig::default()
                }),
        )
        .unwrap();
    *frame.meta_mut() = FrameMeta {
        notices: vec![Notice {
            severity: Severity::Warning,
            text: "reconnected after 3 s".into(),
        }],
        ..FrameMeta::default()
    };
    let msg = parse(&json::snapshot(&frame));
    let field = &msg["schema"]["fields"][0];
    assert_eq!(
        field["labels"],
        json!({"site": "x\"y", "topic": "sensors/a"})
    );
    assert_eq!(
        field["config"],
        json!({"displayName": "Temperature", "unit": "celsius", "decimals": 2, "min": -40, "max": null})
    );
    assert_eq!(
        msg["schema"]["meta"],
        json!({"typeVersion": [0, 0], "notices": [{"severity": "warning", "text": "reconnected after 3 s"}]})
    );
}

#[test]
fn stream_encoder_sends_the_schema_once_then_only_new_rows() {
    let mut frame = tutorial(3);
    let mut enc = StreamEncoder::starting_at(0);
    let mut out = String::new();
    assert!(
        enc.next_packet(&frame, &mut out).is_some(),
        "schema-only first packet"
    );
    assert!(parse(&out).get("data").is_none());
    assert!(enc.next_packet(&frame, &mut out).is_none(), "nothing new");
    assert!(out.is_empty());

    frame
        .push_row(&[Value::Time(1_000_000), Value::Number(1.0)])
        .unwrap();
    let p = enc.next_packet(&frame, &mut out).unwrap();
    assert_eq!((p.rows, p.schema, p.missed), (1, false, 0));
    assert_eq!(out, r#"{"data":{"values":[[1],[1]]}}"#);

    // Touching a field without changing it is not a schema change.
    let _ = frame.field_mut(1);
    frame
        .push_row(&[Value::Time(2_000_000), Value::Number(2.0)])
        .unwrap();
    assert!(!enc.next_packet(&frame, &mut out).unwrap().schema);

    // A label change is.
    frame
        .field_mut(1)
        .unwrap()
        .labels
        .insert("k".into(), "v".into());
    frame
        .push_row(&[Value::Time(3_000_000), Value::Number(3.0)])
        .unwrap();
    let p = enc.next_packet(&frame, &mut out).unwrap();
    assert!(p.schema);
    assert_eq!(
        parse(&out)["schema"]["fields"][1]["labels"],
        json!({"k": "v"})
    );
    assert_eq!(parse(&out)["data"]["values"], json!([[3], [3]]));

    // A consumer that falls behind the ring learns how much it missed.
    for i in 4..10 {
        frame
            .push_row(&[Value::Time(i * 1_000_000), Value::Number(i as f64)])
            .unwrap();
    }
    let p = enc.next_packet(&frame, &mut out).unwrap();
    assert_eq!((p.rows, p.missed), (3, 3));
    assert_eq!(enc.next_seq(), 9);
}

#[test]
fn rows_since_is_a_delta_in_push_order() {
    let mut frame = tutorial(5);
    for i in 0..4 {
        frame
            .push_row(&[Value::Time(i * 1_000_000), Value::Number(i as f64)])
            .unwrap();
    }
    let mut out = String::new();
    let d = json::write_rows_since(&frame, 2, false, &mut out);
    assert_eq!((d.rows, d.missed, d.next_seq), (2, 0, 4));
    assert_eq!(out, r#"{"data":{"values":[[2,3],[2,3]]}}"#);
}

proptest! {
    #[test]
    fn strings_read_back_exactly(s in any::<String>()) {
        let mut out = String::new();
        json::write_str(&mut out, &s);
        let back: String = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn numbers_and_times_read_back_exactly(x in any::<f64>().prop_filter("finite", |x| x.is_finite()), t in any::<i64>()) {
        let mut frame = tutorial(1);
        frame.push_row(&[Value::Time(t), Value::Number(x)]).unwrap();
        let msg = parse(&json::snapshot(&frame));
        prop_assert_eq!(msg["data"]["values"][1][0].as_f64().unwrap(), x);
        let ms = msg["data"]["values"][0][0].as_i64().unwrap();
        let rem = msg["data"].get("nanos").map_or(0, |n| n[0][0].as_i64().unwrap());
        prop_assert_eq!(i128::from(ms) * 1_000_000 + i128::from(rem), i128::from(t));
    }
}

#[test]
fn packets_within_a_size_split_a_backlog_and_lose_nothing() {
    let mut frame = RingFrame::new(100)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("s", FieldType::String)))
        .unwrap();
    let text = "\"quoted\"\n".repeat(100); // 1 000 bytes, 1 200 escaped
    for i in 0..10_i64 {
        frame
            .push_row(&[Value::Time(i * 1_000_000), Value::String(&text)])
            .unwrap();
    }
    let bound = ringstream_frame::json::row_bytes_bound(&frame.row(0).unwrap());
    assert_eq!(bound, 32 + 3 + 1_200);
    let mut enc = StreamEncoder::default();
    let mut out = String::new();
    let mut times = Vec::new();
    while enc.has_more(&frame) {
        let packet = enc.next_packet_within(&frame, 3 * bound, &mut out).unwrap();
        assert!(packet.rows <= 3 && packet.rows >= 1, "{packet:?}");
        assert!(out.len() < 3 * bound + 2_000, "{} bytes", out.len());
        let json = parse(&out);
        times.extend(
            json["data"]["values"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap()),
        );
    }
    assert_eq!(
        times,
        (0..10).collect::<Vec<_>>(),
        "every row once, in order"
    );
    // A row larger than the limit still goes, alone.
    frame
        .push_row(&[Value::Time(10_000_000), Value::String(&text)])
        .unwrap();
    assert_eq!(
        enc.next_packet_within(&frame, 10, &mut out).unwrap().rows,
        1
    );
    assert!(enc.next_packet_within(&frame, 10, &mut out).is_none());
}
