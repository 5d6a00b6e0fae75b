//! `to_record_batch`: a `RingFrame` as an arrow-rs `RecordBatch` laid out as
//! grafana-plugin-sdk-go lays out frames (feature `arrow`).
#![cfg(feature = "arrow")]

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use ringstream_frame::arrow::{config_json, labels_json, meta_json, to_record_batch};
use ringstream_frame::{
    AppendMode, Field, FieldConfig, FieldType, FrameMeta, Labels, Notice, RingFrame, Severity,
    Value,
};

fn map<const N: usize>(entries: [(&str, &str); N]) -> BTreeMap<String, String> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn times(batch: &RecordBatch, j: usize) -> Vec<Option<i64>> {
    let array = batch.column(j).as_primitive::<TimestampNanosecondType>();
    array.iter().collect()
}

fn numbers(batch: &RecordBatch, j: usize) -> Vec<Option<f64>> {
    batch
        .column(j)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn strings(batch: &RecordBatch, j: usize) -> Vec<Option<String>> {
    let array = batch.column(j).as_string::<i32>();
    array.iter().map(|s| s.map(str::to_owned)).collect()
}

fn booleans(batch: &RecordBatch, j: usize) -> Vec<Option<bool>> {
    batch.column(j).as_boolean().iter().collect()
}

#[test]
fn each_type_maps_to_gos_nullable_arrow_type_with_nulls_in_place() {
    let mut frame = RingFrame::new(8);
    for (name, ty) in [
        ("time", FieldType::Time),
        ("value", FieldType::Number),
        ("text", FieldType::String),
        ("ok", FieldType::Boolean),
    ] {
        frame.add_field(Field::new(name, ty)).unwrap();
    }
    frame
        .push_row(&[Value::Time(1), Value::Null, "a".into(), true.into()])
        .unwrap();
    frame
        .push_row(&[Value::Null, 2.5.into(), Value::Null, Value::Null])
        .unwrap();
    frame
        .push_row(&[Value::Time(3), 3.0.into(), "".into(), false.into()])
        .unwrap();

    let batch = to_record_batch(&frame).unwrap();
    assert_eq!(batch.num_rows(), 3);
    let schema = batch.schema();
    let described: Vec<(&str, &DataType, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(
        described,
        [
            (
                "time",
                &DataType::Timestamp(TimeUnit::Nanosecond, None),
                true
            ),
            ("value", &DataType::Float64, true),
            ("text", &DataType::Utf8, true),
            ("ok", &DataType::Boolean, true),
        ]
    );
    // The arrays' own types agree with the schema (no time zone on the timestamps).
    for (j, field) in schema.fields().iter().enumerate() {
        assert_eq!(batch.column(j).data_type(), field.data_type());
    }
    assert_eq!(times(&batch, 0), [Some(1), None, Some(3)]);
    assert_eq!(numbers(&batch, 1), [None, Some(2.5), Some(3.0)]);
    assert_eq!(
        strings(&batch, 2),
        [Some("a".to_owned()), None, Some(String::new())]
    );
    assert_eq!(booleans(&batch, 3), [Some(true), None, Some(false)]);
    let null_counts: Vec<usize> = batch.columns().iter().map(|c| c.null_count()).collect();
    assert_eq!(null_counts, [1, 1, 1, 1]);
}

#[test]
fn times_keep_their_nanoseconds() {
    let instants = [1_700_000_000_123_456_789, -1, 0, i64::MIN, i64::MAX];
    let mut frame = RingFrame::new(8)
        .with_field(Field::new("time", FieldType::Time))
        .unwrap();
    for t in instants {
        frame.push_row(&[Value::Time(t)]).unwrap();
    }
    let batch = to_record_batch(&frame).unwrap();
    assert_eq!(times(&batch, 0), instants.map(Some).to_vec());
}

#[test]
fn nan_and_infinities_are_kept() {
    let mut frame = RingFrame::new(8)
        .with_field(Field::new("value", FieldType::Number))
        .unwrap();
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
        frame.push_row(&[Value::Number(x)]).unwrap();
    }
    let batch = to_record_batch(&frame).unwrap();
    let got = numbers(&batch, 0);
    assert!(got[0].unwrap().is_nan());
    assert_eq!(&got[1..3], &[Some(f64::INFINITY), Some(f64::NEG_INFINITY)]);
    assert!(got[3].unwrap() == 0.0 && got[3].unwrap().is_sign_negative());
    assert_eq!(
        batch.column(0).null_count(),
        0,
        "NaN is a value, not a null"
    );
}

#[test]
fn unicode_strings_and_names_pass_unchanged() {
    let texts = [
        "héllo",
        "日本語",
        "🚀 launch",
        "quote \" and \\ and\nnewline",
        "\u{0}",
    ];
    let mut frame = RingFrame::new(8)
        .with_field(Field::new("名前", FieldType::String))
        .unwrap();
    for t in texts {
        frame.push_row(&[t.into()]).unwrap();
    }
    let batch = to_record_batch(&frame).unwrap();
    assert_eq!(batch.schema().field(0).name(), "名前");
    assert_eq!(batch.schema().field(0).metadata(), &map([("name", "名前")]));
    assert_eq!(
        strings(&batch, 0),
        texts.map(|t| Some(t.to_owned())).to_vec()
    );
}

#[test]
fn rows_come_in_the_frames_order_tail_oldest_first_head_newest_first() {
    for (append, expected) in [
        (AppendMode::Tail, [3.0, 4.0, 5.0]),
        (AppendMode::Head, [5.0, 4.0, 3.0]),
    ] {
        let mut frame = RingFrame::try_new(3, append).unwrap();
        frame.add_field(Field::new("t", FieldType::Time)).unwrap();
        frame.add_field(Field::new("v", FieldType::Number)).unwrap();
        for i in 0..6_i64 {
            frame
                .push_row(&[Value::Time(i), Value::Number(i as f64)])
                .unwrap();
        }
        let batch = to_record_batch(&frame).unwrap();
        assert_eq!(numbers(&batch, 1), expected.map(Some).to_vec(), "{append}");
        assert_eq!(
            times(&batch, 0),
            expected.map(|x| Some(x as i64)).to_vec(),
            "{append}: columns stay aligned"
        );
    }
}

/// A frame with a name, refId, labels, a full config and every meta entry.
fn described_frame() -> RingFrame {
    let config = FieldConfig {
        display_name: Some("Temperature".into()),
        display_name_from_ds: Some("temp (ds)".into()),
        unit: Some("celsius".into()),
        decimals: Some(2),
        min: Some(-40.0),
        max: Some(125.5),
        description: Some("sensor \"°C\"".into()),
    };
    let mut frame = RingFrame::new(4)
        .with_field(Field::new("time", FieldType::Time))
        .unwrap()
        .with_field(
            Field::new("temp", FieldType::Number)
                .with_labels([("sensor", "a1"), ("room", "lab")])
                .with_config(config),
        )
        .unwrap();
    frame.set_name(Some("sensors".into()));
    frame.set_ref_id(Some("A".into()));
    let meta = frame.meta_mut();
    meta.channel = Some("ds/P1AB2C3/sim/temp".into());
    meta.executed_query_string = Some("SELECT temp".into());
    meta.preferred_visualisation_type = Some("graph".into());
    meta.notices = vec![
        Notice {
            severity: Severity::Info,
            text: "hello".into(),
        },
        Notice {
            severity: Severity::Warning,
            text: "gap <5s>".into(),
        },
    ];
    frame
}

#[test]
fn schema_and_field_metadata_follow_the_go_sdk_exactly() {
    let batch = to_record_batch(&described_frame()).unwrap();
    let schema = batch.schema();
    assert_eq!(
        schema.metadata(),
        &map([
            ("name", "sensors"),
            ("refId", "A"),
            (
                "meta",
                concat!(
                    r#"{"typeVersion":[0,0],"#,
                    r#""notices":[{"severity":"info","text":"hello"},"#,
                    r#"{"severity":"warning","text":"gap <5s>"}],"#,
                    r#""channel":"ds/P1AB2C3/sim/temp","#,
                    r#""preferredVisualisationType":"graph","#,
                    r#""executedQueryString":"SELECT temp"}"#,
                )
            ),
        ])
    );
    // A field with no labels and no config has only its name.
    assert_eq!(schema.field(0).metadata(), &map([("name", "time")]));
    assert_eq!(
        schema.field(1).metadata(),
        &map([
            ("name", "temp"),
            ("labels", r#"{"room":"lab","sensor":"a1"}"#),
            (
                "config",
                concat!(
                    r#"{"displayName":"Temperature","displayNameFromDS":"temp (ds)","#,
                    r#""description":"sensor \"°C\"","unit":"celsius","decimals":2,"#,
                    r#""min":-40,"max":125.5}"#,
                )
            ),
        ])
    );
    // Every JSON string parses.
    for value in schema
        .metadata()
        .values()
        .filter(|v| v.starts_with('{'))
        .chain(
            schema
                .field(1)
                .metadata()
                .values()
                .filter(|v| v.starts_with('{')),
        )
    {
        assert!(
            serde_json::from_str::<serde_json::Value>(value).is_ok(),
            "{value}"
        );
    }
}

#[test]
fn name_and_ref_id_are_always_present_and_meta_only_when_set() {
    let frame = RingFrame::new(2)
        .with_field(Field::new("v", FieldType::Number))
        .unwrap();
    let batch = to_record_batch(&frame).unwrap();
    assert_eq!(
        batch.schema().metadata(),
        &map([("name", ""), ("refId", "")])
    );
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.column(0).len(), 0);
}

#[test]
fn a_frame_without_fields_is_a_batch_without_columns() {
    let batch = to_record_batch(&RingFrame::new(1)).unwrap();
    assert_eq!(batch.num_columns(), 0);
    assert_eq!(batch.num_rows(), 0);
}

#[test]
fn meta_json_writes_only_what_is_set() {
    assert_eq!(meta_json(&FrameMeta::default()), None);
    let meta = FrameMeta {
        channel: Some("ds/u/p".into()),
        ..FrameMeta::default()
    };
    assert_eq!(
        meta_json(&meta).as_deref(),
        Some(r#"{"typeVersion":[0,0],"channel":"ds/u/p"}"#)
    );
    let meta = FrameMeta {
        notices: vec![Notice {
            severity: Severity::Error,
            text: "línea\n2".into(),
        }],
        ..FrameMeta::default()
    };
    assert_eq!(
        meta_json(&meta).as_deref(),
        Some(r#"{"typeVersion":[0,0],"notices":[{"severity":"error","text":"línea\n2"}]}"#)
    );
}

#[test]
fn labels_json_is_sorted_escaped_and_absent_when_empty() {
    assert_eq!(labels_json(&Labels::new()), None);
    let labels: Labels = [("zone", "eu \"west\""), ("app", "日本"), ("B", "x")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // Byte order, as Go sorts map keys: upper case before lower case.
    assert_eq!(
        labels_json(&labels).as_deref(),
        Some(r#"{"B":"x","app":"日本","zone":"eu \"west\""}"#)
    );
}

#[test]
fn config_json_writes_non_finite_bounds_as_null_like_gos_conf_float64() {
    assert_eq!(config_json(&FieldConfig::default()), None);
    let config = FieldConfig {
        min: Some(f64::NAN),
        max: Some(f64::INFINITY),
        decimals: Some(0),
        ..FieldConfig::default()
    };
    assert_eq!(
        config_json(&config).as_deref(),
        Some(r#"{"decimals":0,"min":null,"max":null}"#)
    );
    let config = FieldConfig {
        unit: Some("ms".into()),
        min: Some(0.001),
        max: Some(1e21),
        ..FieldConfig::default()
    };
    assert_eq!(
        config_json(&config).as_deref(),
        // Go and JavaScript print `1e+21`; JSON readers take both.
        Some(r#"{"unit":"ms","min":0.001,"max":1e21}"#)
    );
}
