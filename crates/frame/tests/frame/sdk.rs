//! `to_sdk_frame`: a `RingFrame` as grafana-plugin-sdk's `Frame` (feature `sdk`).
#![cfg(feature = "sdk")]

use grafana_plugin_sdk::arrow2::array::{BooleanArray, PrimitiveArray, Utf8Array};
use grafana_plugin_sdk::arrow2::datatypes::{DataType, TimeUnit};
use grafana_plugin_sdk::backend::{InitialData, SubscribeStreamResponse};
use grafana_plugin_sdk::data::{self as sdk, FrameInclude, VisType};
use grafana_plugin_sdk::live::Scope;
use grafana_plugin_sdk::pluginv2;
use ringstream_frame::sdk::to_sdk_frame;
use ringstream_frame::{
    AppendMode, Field, FieldConfig, FieldType, FrameError, Notice, RingFrame, Severity, Value,
};
use serde_json::{json, Value as Json};

/// time, number, string and boolean fields.
fn all_types(append: AppendMode) -> RingFrame {
    let mut frame = RingFrame::try_new(8, append).unwrap();
    for (name, ty) in [
        ("time", FieldType::Time),
        ("value", FieldType::Number),
        ("text", FieldType::String),
        ("ok", FieldType::Boolean),
    ] {
        frame.add_field(Field::new(name, ty)).unwrap();
    }
    frame
}

fn times(field: &sdk::Field) -> Vec<Option<i64>> {
    let array = field
        .values()
        .as_any()
        .downcast_ref::<PrimitiveArray<i64>>();
    array.unwrap().iter().map(|v| v.copied()).collect()
}

fn numbers(field: &sdk::Field) -> Vec<Option<f64>> {
    let array = field
        .values()
        .as_any()
        .downcast_ref::<PrimitiveArray<f64>>();
    array.unwrap().iter().map(|v| v.copied()).collect()
}

fn strings(field: &sdk::Field) -> Vec<Option<String>> {
    let array = field.values().as_any().downcast_ref::<Utf8Array<i32>>();
    array
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn booleans(field: &sdk::Field) -> Vec<Option<bool>> {
    let array = field.values().as_any().downcast_ref::<BooleanArray>();
    array.unwrap().iter().collect()
}

/// The JSON the SDK itself sends for a checked frame (as `InitialData` of a subscription,
/// the same encoder as `StreamPacket::from_frame`).
fn sdk_json(frame: &sdk::Frame) -> Json {
    let initial = InitialData::from_frame(frame.check().unwrap(), FrameInclude::All).unwrap();
    let wire: pluginv2::SubscribeStreamResponse = SubscribeStreamResponse::ok(Some(initial)).into();
    serde_json::from_slice(&wire.data).unwrap()
}

#[test]
fn each_type_maps_to_its_nullable_grafana_type_with_nulls_in_place() {
    let mut frame = all_types(AppendMode::Tail);
    frame
        .push_row(&[Value::Time(1_000_000), Value::Null, "a".into(), true.into()])
        .unwrap();
    frame
        .push_row(&[Value::Null, 2.5.into(), Value::Null, Value::Null])
        .unwrap();
    frame
        .push_row(&[Value::Time(3_000_000), 3.0.into(), "".into(), false.into()])
        .unwrap();

    let sdk_frame = to_sdk_frame(&frame).unwrap();
    let fields = sdk_frame.fields();
    assert_eq!(fields.len(), 4);
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["time", "value", "text", "ok"]);

    let types: Vec<&DataType> = fields.iter().map(|f| f.values().data_type()).collect();
    assert_eq!(
        types,
        [
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
            &DataType::Float64,
            &DataType::Utf8,
            &DataType::Boolean,
        ]
    );
    assert_eq!(times(&fields[0]), [Some(1_000_000), None, Some(3_000_000)]);
    assert_eq!(numbers(&fields[1]), [None, Some(2.5), Some(3.0)]);
    // The empty string stays a string, distinct from null.
    assert_eq!(
        strings(&fields[2]),
        [Some("a".to_owned()), None, Some(String::new())]
    );
    assert_eq!(booleans(&fields[3]), [Some(true), None, Some(false)]);

    // Grafana's view of the schema: simple type, Go type and nullability.
    let json = sdk_json(&sdk_frame);
    let schema_fields = json["schema"]["fields"].as_array().unwrap();
    let described: Vec<(&str, &str, &Json)> = schema_fields
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap(),
                f["typeInfo"]["frame"].as_str().unwrap(),
                &f["typeInfo"]["nullable"],
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("time", "time.Time", &json!(true)),
            ("number", "float64", &json!(true)),
            ("string", "string", &json!(true)),
            ("boolean", "bool", &json!(true)),
        ]
    );
    assert_eq!(
        json["data"]["values"],
        json!([
            [1, null, 3],
            [null, 2.5, 3.0],
            ["a", null, ""],
            [true, null, false]
        ])
    );
}

#[test]
fn times_keep_their_nanoseconds_across_the_whole_i64_range() {
    let instants = [
        1_700_000_000_123_456_789,
        -1, // 1969-12-31T23:59:59.999999999Z
        0,
        i64::MIN,
        i64::MAX,
    ];
    let mut frame = RingFrame::new(8)
        .with_field(Field::new("time", FieldType::Time))
        .unwrap();
    for t in instants {
        frame.push_row(&[Value::Time(t)]).unwrap();
    }
    let sdk_frame = to_sdk_frame(&frame).unwrap();
    assert_eq!(
        times(&sdk_frame.fields()[0]),
        instants.map(Some).to_vec(),
        "nanosecond epoch values unchanged"
    );
}

#[test]
fn nan_and_infinities_are_kept_and_flagged_as_entities() {
    let mut frame = RingFrame::new(8)
        .with_field(Field::new("value", FieldType::Number))
        .unwrap();
    for x in [f64::NAN, 1.5, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
        frame.push_row(&[Value::Number(x)]).unwrap();
    }
    let sdk_frame = to_sdk_frame(&frame).unwrap();
    let got = numbers(&sdk_frame.fields()[0]);
    assert!(got[0].unwrap().is_nan());
    assert_eq!(
        &got[1..4],
        &[Some(1.5), Some(f64::INFINITY), Some(f64::NEG_INFINITY)]
    );
    assert!(got[4].unwrap() == 0.0 && got[4].unwrap().is_sign_negative());

    let json = sdk_json(&sdk_frame);
    assert_eq!(
        json["data"]["entities"],
        json!([{"NaN": [0], "Inf": [2], "NegInf": [3]}])
    );
}

#[test]
fn unicode_strings_pass_unchanged() {
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
    let sdk_frame = to_sdk_frame(&frame).unwrap();
    assert_eq!(sdk_frame.fields()[0].name, "名前");
    assert_eq!(
        strings(&sdk_frame.fields()[0]),
        texts.map(|t| Some(t.to_owned())).to_vec()
    );
    let json = sdk_json(&sdk_frame);
    assert_eq!(json["data"]["values"][0], json!(texts));
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
        // Six pushes into capacity 3: the ring has wrapped.
        for i in 0..6_i64 {
            frame
                .push_row(&[Value::Time(i), Value::Number(i as f64)])
                .unwrap();
        }
        let sdk_frame = to_sdk_frame(&frame).unwrap();
        assert_eq!(
            numbers(&sdk_frame.fields()[1]),
            expected.map(Some).to_vec(),
            "{append}"
        );
        assert_eq!(
            times(&sdk_frame.fields()[0]),
            expected.map(|x| Some(x as i64)).to_vec(),
            "{append}: columns stay aligned"
        );
    }
}

/// A frame with a name, labels, a full config and every meta entry.
fn described_frame() -> RingFrame {
    let config = FieldConfig {
        display_name: Some("Temperature".into()),
        display_name_from_ds: Some("temp (ds)".into()),
        unit: Some("celsius".into()),
        decimals: Some(2),
        min: Some(-40.0),
        max: Some(125.5),
        description: Some("sensor °C".into()),
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
    meta.channel = Some("ds/P1AB2C3/sim/temp-1=x.y".into());
    meta.executed_query_string = Some("SELECT temp".into());
    meta.preferred_visualisation_type = Some("graph".into());
    meta.notices = vec![
        Notice {
            severity: Severity::Info,
            text: "hello".into(),
        },
        Notice {
            severity: Severity::Warning,
            text: "gap".into(),
        },
        Notice {
            severity: Severity::Error,
            text: "boom".into(),
        },
    ];
    frame
        .push_row(&[Value::Time(5), Value::Number(21.5)])
        .unwrap();
    frame
}

#[test]
fn name_labels_config_and_meta_reach_the_sdk_frame() {
    let sdk_frame = to_sdk_frame(&described_frame()).unwrap();
    assert_eq!(sdk_frame.name, "sensors");

    let time = &sdk_frame.fields()[0];
    assert!(time.labels.is_empty());
    assert_eq!(time.config, None, "an empty config is no config");

    let temp = &sdk_frame.fields()[1];
    assert_eq!(temp.labels.len(), 2);
    assert_eq!(temp.labels["sensor"], "a1");
    assert_eq!(temp.labels["room"], "lab");
    let config = temp.config.as_ref().unwrap();
    assert_eq!(config.display_name.as_deref(), Some("Temperature"));
    assert_eq!(config.display_name_from_ds.as_deref(), Some("temp (ds)"));
    assert_eq!(config.unit.as_deref(), Some("celsius"));
    assert_eq!(config.decimals, Some(2));
    assert_eq!(config.min, Some(-40.0));
    assert_eq!(config.max, Some(125.5));
    assert_eq!(config.description.as_deref(), Some("sensor °C"));

    let meta = sdk_frame.meta.as_ref().unwrap();
    let channel = meta.channel.as_ref().unwrap();
    assert_eq!(channel.scope(), Scope::Datasource);
    assert_eq!(channel.namespace().as_str(), "P1AB2C3");
    assert_eq!(channel.path().as_str(), "sim/temp-1=x.y");
    assert_eq!(meta.executed_query_string.as_deref(), Some("SELECT temp"));
    assert_eq!(meta.preferred_visualisation, Some(VisType::Graph));
    let notices: Vec<(Option<sdk::Severity>, &str)> = meta
        .notices
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| (n.severity, n.text.as_str()))
        .collect();
    assert_eq!(
        notices,
        [
            (Some(sdk::Severity::Info), "hello"),
            (Some(sdk::Severity::Warning), "gap"),
            (Some(sdk::Severity::Error), "boom"),
        ]
    );
}

#[test]
fn the_sdks_own_json_shows_grafanas_schema() {
    let sdk_frame = to_sdk_frame(&described_frame()).unwrap();
    assert!(sdk_frame.check().is_ok());
    let json = sdk_json(&sdk_frame);
    // No refId: the SDK keeps `Frame::ref_id` to itself and fills it from the query.
    assert_eq!(
        json["schema"],
        json!({
            "name": "sensors",
            "meta": {
                "notices": [
                    {"severity": "info", "text": "hello"},
                    {"severity": "warning", "text": "gap"},
                    {"severity": "error", "text": "boom"},
                ],
                "channel": "ds/P1AB2C3/sim/temp-1=x.y",
                "preferredVisualisationType": "graph",
                "executedQueryString": "SELECT temp",
            },
            "fields": [
                {
                    "name": "time",
                    "labels": {},
                    "type": "time",
                    "typeInfo": {"frame": "time.Time", "nullable": true},
                },
                {
                    "name": "temp",
                    "labels": {"room": "lab", "sensor": "a1"},
                    "config": {
                        "displayName": "Temperature",
                        "displayNameFromDS": "temp (ds)",
                        "description": "sensor °C",
                        "unit": "celsius",
                        "decimals": 2,
                        "min": -40.0,
                        "max": 125.5,
                    },
                    "type": "number",
                    "typeInfo": {"frame": "float64", "nullable": true},
                },
            ],
        })
    );
    // The SDK's JSON carries whole milliseconds.
    assert_eq!(json["data"]["values"], json!([[0], [21.5]]));
}

#[test]
fn an_unnamed_frame_without_fields_or_meta_converts_to_an_empty_checked_frame() {
    let sdk_frame = to_sdk_frame(&RingFrame::new(1)).unwrap();
    assert_eq!(sdk_frame.name, "");
    assert!(sdk_frame.fields().is_empty());
    assert!(sdk_frame.meta.is_none());
    assert!(sdk_frame.check().is_ok());
}

#[test]
fn an_invalid_channel_is_an_error_naming_it() {
    for (channel, reason_has) in [
        ("ds/uid/bad path!", "Invalid path"),
        ("ds", "Missing namespace"),
        ("", "must not be empty"),
        ("galaxy/uid/path", "Invalid scope"),
    ] {
        let mut frame = described_frame();
        frame.meta_mut().channel = Some(channel.into());
        match to_sdk_frame(&frame) {
            Err(FrameError::InvalidChannel {
                channel: got,
                reason,
            }) => {
                assert_eq!(got, channel);
                assert!(reason.contains(reason_has), "{channel:?}: {reason}");
            }
            other => panic!("{channel:?}: expected InvalidChannel, got {other:?}"),
        }
    }
    let mut long = described_frame();
    long.meta_mut().channel = Some(format!("ds/uid/{}", "p".repeat(160)));
    assert!(matches!(
        to_sdk_frame(&long),
        Err(FrameError::InvalidChannel { .. })
    ));
}

#[test]
fn visualisation_types_the_sdk_cannot_write_as_grafana_does_are_left_out() {
    for (name, expected) in [
        ("table", Some(VisType::Table)),
        ("logs", Some(VisType::Logs)),
        ("trace", Some(VisType::Trace)),
        ("nodeGraph", Some(VisType::NodeGraph)),
        ("flamegraph", None),
        ("rawPrometheus", None),
    ] {
        let mut frame = described_frame();
        frame.meta_mut().preferred_visualisation_type = Some(name.into());
        let sdk_frame = to_sdk_frame(&frame).unwrap();
        let meta = sdk_frame.meta.unwrap();
        assert_eq!(meta.preferred_visualisation, expected, "{name}");
    }
    // A meta with nothing the SDK can carry is no meta at all.
    let mut frame = RingFrame::new(1);
    frame.meta_mut().preferred_visualisation_type = Some("flamegraph".into());
    assert!(to_sdk_frame(&frame).unwrap().meta.is_none());
}

#[test]
fn decimals_beyond_the_sdks_u16_are_clamped() {
    let frame = RingFrame::new(1)
        .with_field(Field::new("v", FieldType::Number).with_config(FieldConfig {
            decimals: Some(70_000),
            ..FieldConfig::default()
        }))
        .unwrap();
    let sdk_frame = to_sdk_frame(&frame).unwrap();
    let config = sdk_frame.fields()[0].config.as_ref().unwrap();
    assert_eq!(config.decimals, Some(u16::MAX));
}

/// Per tick at capacity 1 000, the delta RunStream sends is over 100× smaller than the SDK's
/// way (the whole frame as a `StreamPacket`). Bytes are deterministic, so this is a test;
/// the CPU side is in the criterion benchmark `wire`.
#[test]
fn a_one_row_delta_is_over_100_times_smaller_than_resending_the_frame() {
    use ringstream_frame::json::StreamEncoder;

    let mut frame = RingFrame::new(1_000)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .unwrap();
    let row = |i: i64| {
        [
            Value::Time((1_764_288_000_000 + i * 100) * 1_000_000),
            Value::Number(0.123_456_789_012_345_6 * i as f64),
        ]
    };
    for i in 0..1_000 {
        frame.push_row(&row(i)).unwrap();
    }
    let mut encoder = StreamEncoder::starting_at(frame.next_seq());
    let mut out = String::new();
    encoder.next_packet(&frame, &mut out); // schema, once
    frame.push_row(&row(1_000)).unwrap();
    encoder.next_packet(&frame, &mut out).unwrap();
    let delta = out.len();

    // `StreamPacket::from_frame` keeps its bytes private; `InitialData::from_frame` with
    // `FrameInclude::All` runs the same encoder and exposes them.
    let sdk = to_sdk_frame(&frame).unwrap();
    let initial = InitialData::from_frame(sdk.check().unwrap(), FrameInclude::All).unwrap();
    let wire: pluginv2::SubscribeStreamResponse = SubscribeStreamResponse::ok(Some(initial)).into();
    let full = wire.data.len();
    assert!(full >= 100 * delta, "delta {delta} B, full frame {full} B");
}
