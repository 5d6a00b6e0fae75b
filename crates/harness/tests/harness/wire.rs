//! The DataFrameJSON decoder and [`LiveFrame`] take any input without panicking: malformed
//! messages are errors, odd but well-formed ones go through the library's rules.

use proptest::prelude::*;
use ringstream_harness::live::{Action, LiveFrame, LiveOptions, LiveValue};
use ringstream_harness::wire::{self, EntityKind, FieldType};
use ringstream_harness::HarnessError;
use serde_json::{json, Value as Json};

/// Keys a DataFrameJSON message uses, so random objects often hit the real structure.
const KEYS: &[&str] = &[
    "schema", "data", "fields", "name", "type", "typeInfo", "labels", "config", "refId", "meta",
    "values", "entities", "nanos", "NaN", "Inf", "NegInf", "Undef", "enums", "x",
];

fn number() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-5i64..10).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| json!(x)),
        prop::sample::select(vec![
            1.7976931348623157e308,
            -1.7976931348623157e308,
            5e-324,
            0.5
        ])
        .prop_map(|x| json!(x)),
        (1_600_000_000_000i64..1_800_000_000_000).prop_map(|n| json!(n)),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "time",
            "value",
            "number",
            "string",
            "boolean",
            "other",
            "float",
            "labels",
            "Labels",
            " 12 ",
            "0x1F",
            "0b102",
            "1e3",
            "-.5",
            "5.",
            "NaN",
            "Infinity",
            "true",
            "1700000000000",
            "\u{a0}7\u{feff}",
            "日本語",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ]
}

/// Any JSON value, nested up to a few levels, keys mostly from [`KEYS`].
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number(),
        string().prop_map(Json::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec(
                (
                    prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), string()],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

fn cell() -> impl Strategy<Value = Json> {
    prop_oneof![
        6 => number(),
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        2 => string().prop_map(Json::String),
        1 => prop::sample::select(vec![json!([]), json!([5]), json!(["7"]), json!([1, 2]), json!({"a": 1})]),
    ]
}

fn schema_field() -> impl Strategy<Value = Json> {
    (
        prop::sample::select(vec!["time", "Time", "value", "v", "labels", "x"]),
        prop::option::of(prop::sample::select(vec![
            "time", "number", "string", "boolean", "other", "enum", "float",
        ])),
        prop::option::of(prop::sample::select(vec![
            json!({"a": "b"}),
            json!({}),
            Json::Null,
        ])),
        prop::option::of(prop::sample::select(vec![
            json!({"unit": "ms"}),
            json!({}),
            Json::Null,
        ])),
    )
        .prop_map(|(name, ty, labels, config)| {
            let mut f = json!({ "name": name });
            if let Some(ty) = ty {
                f["type"] = json!(ty);
            }
            if let Some(labels) = labels {
                f["labels"] = labels;
            }
            if let Some(config) = config {
                f["config"] = config;
            }
            f
        })
}

fn entities() -> impl Strategy<Value = Json> {
    let index = prop_oneof![
        (0i64..6).prop_map(|i| json!(i)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
    ];
    let one = prop::option::of(prop::collection::vec(
        (
            prop::sample::select(vec!["NaN", "Inf", "NegInf", "Undef"]),
            prop::collection::vec(index, 0..4),
        ),
        0..4,
    ))
    .prop_map(|e| match e {
        None => Json::Null,
        Some(kv) => Json::Object(
            kv.into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect(),
        ),
    });
    prop::collection::vec(one, 0..5).prop_map(Json::Array)
}

/// A message that decodes (mostly): random schemas and data with mismatched widths, ragged
/// columns, entities for missing columns, odd cells.
fn message() -> impl Strategy<Value = Json> {
    (
        prop::option::of(prop::collection::vec(schema_field(), 0..5)),
        prop::option::of(prop::collection::vec(
            prop::collection::vec(cell(), 0..6),
            0..5,
        )),
        prop::option::of(entities()),
        prop::option::of(prop::collection::vec(
            prop::option::of(prop::collection::vec(0i64..1_000_000, 0..4)),
            0..3,
        )),
    )
        .prop_map(|(schema, values, entities, nanos)| {
            let mut m = json!({});
            if let Some(fields) = schema {
                m["schema"] = json!({ "fields": fields, "refId": "A" });
            }
            if let Some(values) = values {
                m["data"] = json!({ "values": values });
                if let Some(e) = entities {
                    m["data"]["entities"] = e;
                }
                if let Some(n) = nanos {
                    m["data"]["nanos"] = json!(n);
                }
            }
            m
        })
}

fn options() -> impl Strategy<Value = LiveOptions> {
    (
        prop_oneof![0usize..6, Just(1000), Just(usize::MAX)],
        prop::option::of(prop_oneof![
            Just(0.0),
            Just(500.0),
            Just(-1.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            0.0..1e13,
        ]),
        prop_oneof![Just(Action::Append), Just(Action::Replace)],
    )
        .prop_map(|(max_length, max_delta, action)| LiveOptions {
            max_length,
            max_delta,
            action,
        })
}

/// Pushes every message (carrying on after errors) and checks the frame still prints.
fn push_all(options: LiveOptions, messages: &[wire::DataFrameJson]) {
    let mut frame = LiveFrame::new(options);
    for msg in messages {
        let _ = frame.push(msg);
    }
    let out = frame.to_oracle_json();
    assert_eq!(out["length"], json!(frame.len()));
    let fields = out["fields"].as_array().expect("fields");
    assert_eq!(fields.len(), frame.fields().len());
    for (f, j) in frame.fields().iter().zip(fields) {
        assert_eq!(j["values"].as_array().map(Vec::len), Some(f.values.len()));
    }
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = wire::decode_slice(&bytes);
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(text in ".{0,128}") {
        let _ = wire::decode(&text);
        let mut frame = LiveFrame::new(LiveOptions::default());
        let _ = frame.push_json(&text);
    }

    #[test]
    fn decoding_arbitrary_json_never_panics(
        values in prop::collection::vec(any_json(), 1..6),
        options in options(),
    ) {
        let decoded: Vec<_> = values
            .iter()
            .filter_map(|v| wire::decode(&v.to_string()).ok())
            .collect();
        push_all(options, &decoded);
    }

    #[test]
    fn pushing_arbitrary_messages_never_panics(
        messages in prop::collection::vec(message(), 1..8),
        options in options(),
    ) {
        let decoded: Vec<_> = messages
            .iter()
            .map(|m| wire::decode(&m.to_string()))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        push_all(options, &decoded);
    }

    #[test]
    fn truncated_messages_are_errors_not_panics(message in message(), cut in 0usize..200) {
        let text = message.to_string();
        let cut = cut.min(text.len());
        if let Some(prefix) = text.get(..cut) {
            if cut < text.len() {
                prop_assert!(wire::decode(prefix).is_err());
            }
        }
    }
}

#[test]
fn decoder_reads_every_part_of_a_message() {
    let msg = wire::decode(
        r#"{"schema": {"name": "cpu", "refId": "A", "meta": {"x": 1},
             "fields": [{"name": "time", "type": "time", "typeInfo": {"frame": "time.Time"}},
                        {"name": "v", "type": "float64", "labels": {"host": "a"},
                         "config": {"unit": "ms"}},
                        {"name": "raw"}]},
            "data": {"values": [[1, 2], [null, 3], [[1], {"a": 2}]],
                     "entities": [null, {"Inf": [0], "NaN": [1.5, -1], "Inf": [1]}],
                     "nanos": [[5, 0], null, null], "enums": []}}"#,
    )
    .expect("a valid message");
    let schema = msg.schema.expect("schema");
    assert_eq!(schema.name.as_deref(), Some("cpu"));
    assert_eq!(schema.ref_id.as_deref(), Some("A"));
    assert_eq!(schema.fields[0].field_type, Some(FieldType::Time));
    assert_eq!(
        schema.fields[1].field_type,
        Some(FieldType::Unknown("float64".into()))
    );
    assert_eq!(schema.fields[1].labels["host"], "a");
    assert_eq!(schema.fields[1].config["unit"], json!("ms"));
    assert_eq!(schema.fields[2].field_type, None);
    let data = msg.data.expect("data");
    assert_eq!(data.values.len(), 3);
    let ents = data.entities.expect("entities");
    let ents = ents[1].as_ref().expect("column 1 entities");
    // A repeated key keeps its first position and its last list, as JSON.parse does.
    assert_eq!(ents.order, vec![EntityKind::Inf, EntityKind::NaN]);
    assert_eq!(ents.inf, vec![1.0]);
    assert_eq!(ents.nan, vec![1.5, -1.0]);
    assert_eq!(data.nanos.expect("nanos")[0], Some(vec![5, 0]));
}

#[test]
fn decoder_refuses_malformed_messages_with_a_message() {
    for (text, needle) in [
        ("", "EOF"),
        ("[]", "expected a DataFrameJSON message object"),
        (
            r#"[{"fields": []}, null]"#,
            "expected a DataFrameJSON message object",
        ),
        (r#"{"schema": {}}"#, "missing field `fields`"),
        (
            r#"{"schema": {"fields": [{"type": "time"}]}}"#,
            "missing field `name`",
        ),
        (
            r#"{"schema": {"fields": [{"name": "a", "type": null}]}}"#,
            "expected a field type string",
        ),
        (
            r#"{"schema": {"fields": [{"name": "a", "labels": {"k": 1}}]}}"#,
            "invalid type",
        ),
        (r#"{"data": {"values": [1, 2]}}"#, "invalid type"),
        (r#"{"data": {}}"#, "missing field `values`"),
        (
            r#"{"data": {"values": [[1]], "entities": [{"Nan": [0]}]}}"#,
            "unknown field `Nan`",
        ),
        (
            r#"{"data": {"values": [[1]], "entities": [{"NaN": null}]}}"#,
            "invalid type",
        ),
        (r#"{"data": {"values": [[1e999]]}}"#, "number out of range"),
    ] {
        match wire::decode(text) {
            Err(e @ HarnessError::Decode(_)) => {
                let e = e.to_string();
                assert!(e.starts_with("invalid DataFrameJSON message: "), "{e}");
                assert!(e.contains(needle), "{text}: {e}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn live_frame_accessors_show_what_a_panel_holds() {
    let mut frame = LiveFrame::new(LiveOptions {
        max_length: 2,
        max_delta: None,
        action: Action::Append,
    });
    frame
        .push_json(
            r#"{"schema": {"refId": "A", "fields": [{"name": "time", "type": "time"},
                                                    {"name": "v", "type": "number"}]},
                "data": {"values": [[1700000000000, 1700000001000, 1700000002000], [1, null, 3]],
                         "entities": [null, {"NaN": [0]}]}}"#,
        )
        .unwrap();
    // The first data is taken whole.
    assert_eq!(frame.len(), 3);
    assert_eq!(frame.ref_id(), Some("A"));
    assert_eq!(frame.time_field_index(), Some(0));
    frame
        .push_json(
            r#"{"data": {"values": [[1700000003000], [4]], "entities": [null, {"Undef": [0]}]}}"#,
        )
        .unwrap();
    assert_eq!(frame.len(), 2);
    let v = &frame.fields()[1];
    assert_eq!(v.field_type, FieldType::Number);
    assert_eq!(v.values, vec![LiveValue::Number(3.0), LiveValue::Undefined]);
    assert_eq!(
        frame.to_oracle_json(),
        json!({"length": 2, "fields": [
            {"name": "time", "type": "time", "values": [1700000002000u64, 1700000003000u64]},
            {"name": "v", "type": "number", "values": [3, null]}]})
    );
    let err = frame
        .push_json(r#"{"data": {"values": [[1], [2], [3]]}}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "StreamingDataFrame.push throws: push message mismatch.  Expected: 2, received: 3 (labels=false)"
    );
    let err = frame
        .push_json(r#"{"schema": {"fields": [{"name": "labels", "type": "string"}, {"name": "t", "type": "time"}]}}"#)
        .unwrap_err();
    assert!(matches!(err, HarnessError::Unsupported(_)), "{err}");
    assert_eq!(
        frame.fields().len(),
        2,
        "a refused schema leaves the frame alone"
    );
}

#[test]
fn javascript_number_conversions() {
    let n = |s: &str| LiveValue::String(s.into()).to_number();
    assert_eq!(n(""), 0.0);
    assert_eq!(n(" \u{a0}12\n"), 12.0);
    assert_eq!(n("0x1F"), 31.0);
    assert_eq!(n("0b101"), 5.0);
    assert_eq!(n("0o17"), 15.0);
    assert!(n("-0x1").is_nan());
    assert!(n("0x").is_nan());
    assert_eq!(n("-.5"), -0.5);
    assert_eq!(n("5."), 5.0);
    assert_eq!(n("+1e3"), 1000.0);
    assert_eq!(n("-Infinity"), f64::NEG_INFINITY);
    assert!(n("inf").is_nan());
    assert!(n("NaN").is_nan());
    assert!(n("1_000").is_nan());
    assert!(n("\u{85}1").is_nan(), "NEL is not JavaScript white space");
    // 2^64 + 1 in hex rounds once, to 2^64; a 40-digit hex literal keeps its magnitude.
    assert_eq!(n("0x10000000000000001"), 18446744073709551616.0);
    assert_eq!(n(&format!("0x1{}", "0".repeat(39))), 2f64.powi(156));
    assert_eq!(n(&format!("0x1{}1", "0".repeat(39))), 2f64.powi(160));
    let j = |v: Json| LiveValue::Json(v).to_number();
    assert_eq!(j(json!([])), 0.0);
    assert_eq!(j(json!([5])), 5.0);
    assert_eq!(j(json!([[" 7 "]])), 7.0);
    assert_eq!(j(json!([null])), 0.0);
    assert!(j(json!([1, 2])).is_nan());
    assert!(j(json!([true])).is_nan());
    assert!(j(json!({})).is_nan());
    assert!(LiveValue::Undefined.to_number().is_nan());
    assert_eq!(LiveValue::Null.to_number(), 0.0);
    assert_eq!(LiveValue::Boolean(true).to_number(), 1.0);
}
