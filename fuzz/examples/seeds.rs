//! Writes the committed seed corpus, `fuzz/corpus/<target>/<name>`: a few valid inputs per
//! target for the fuzzer to start from. The wire formats (Arrow IPC, DataFrameJSON) come
//! from the frame crate's own encoders, so the seeds are what the plugin really sends; the
//! rest is written out here by hand. Each target's doc says how its input is laid out
//! (0xFF separates the parts: it is never a byte of UTF-8).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --no-default-features --example seeds`
//! (`--no-default-features`: builds the frame crate only, not the plugin). Files the fuzzer
//! merged in with `cargo xtask fuzz --update-corpus` are left alone.

use std::path::Path;

use ringstream_frame::json::{self, StreamEncoder};
use ringstream_frame::{Field, FieldConfig, FieldType, Notice, RingFrame, Severity, Value};

/// Separates the parts of one input.
const SEP: u8 = 0xFF;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut written = 0;
    for (target, seeds) in seeds() {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes)?;
            written += 1;
        }
    }
    println!("wrote {written} seeds under {}", corpus.display());
    Ok(())
}

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn seeds() -> Vec<(&'static str, Seeds)> {
    vec![
        ("query_json", queries()),
        ("channel_path", channel_paths()),
        ("payload", payloads()),
        ("settings", settings()),
        ("dataframe_json", dataframe_json()),
        ("arrow_frame", arrow_frames()),
    ]
}

fn text(items: &[(&'static str, &str)]) -> Seeds {
    items
        .iter()
        .map(|(name, s)| (*name, s.as_bytes().to_vec()))
        .collect()
}

/// Parts joined with [`SEP`].
fn parts(items: &[&[u8]]) -> Vec<u8> {
    items.join(&SEP)
}

fn queries() -> Seeds {
    text(&[
        ("empty", "{}"),
        ("sine", r#"{"signal":"sine","periodMs":5000}"#),
        (
            "random",
            r#"{"signal":"random","min":-1.5,"max":2e3,"tickMs":250,"capacity":50,"seed":42}"#,
        ),
        (
            "counter",
            r#"{"source":"signal","signal":"counter","offset":-0.0,"step":0.1,"backfill":false}"#,
        ),
        ("mqtt", r#"{"source":"mqtt","topic":"a/+/b"}"#),
        (
            "mqtt_fields",
            r#"{"source":"mqtt","topic":"plant/#","timePath":"meta.ts","fields":["p","q.r"]}"#,
        ),
        (
            "websocket",
            r#"{"source":"websocket","path":"/ws/btcusdt@trade?x=1","timePath":"E","fields":["p"]}"#,
        ),
    ])
}

fn channel_paths() -> Seeds {
    text(&[
        (
            "random_walk",
            "v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1",
        ),
        (
            "sine",
            "v1/sine/amplitude=1/period=5000/offset=0/tick=250/cap=1000/backfill=1",
        ),
        (
            "random_seed",
            "v1/random/min=-1.5/max=2000/tick=100/cap=50/seed=42/backfill=0",
        ),
        (
            "mqtt",
            "v1/mqtt/tick=100/cap=1000/backfill=1/time=ts/topic/sensors/=2B/temperature",
        ),
        (
            "mqtt_fields",
            "v1/mqtt/tick=100/cap=1000/backfill=1/field=p/field=q.r/topic/plant/=23",
        ),
        (
            "websocket",
            "v1/ws/tick=100/cap=1000/backfill=1/time=E/path/ws/btcusdt=40trade",
        ),
    ])
}

fn payloads() -> Seeds {
    // Byte 0: bit 0 per topic, bits 1-2 the time path (none, ts, meta.time, value),
    // bit 3 the fields filter, bits 4-7 capacity - 1.
    let with = |options: u8, messages: &[&[u8]]| {
        let mut input = vec![options];
        input.extend(parts(messages));
        input
    };
    vec![
        (
            "objects",
            with(
                0x30,
                &[
                    br#"{"a":1.5,"b":{"c":"x","d":true},"e":[1,2],"f":null}"#,
                    br#"{"a":"7","b":{"c":2},"g":"new"}"#,
                    b"",
                ],
            ),
        ),
        (
            "plain_values",
            with(0x20, &[b" 21.5 ", b"on", b"18446744073709551615", b"\xc3("]),
        ),
        (
            "time_paths",
            with(
                0x72,
                &[
                    br#"{"ts":1700000000,"v":1}"#,
                    br#"{"ts":"2023-11-14T22:13:20.5Z","v":2}"#,
                    br#"{"ts":1700000000123456789,"v":3}"#,
                    br#"{"ts":"yesterday","v":4}"#,
                ],
            ),
        ),
        (
            "per_topic",
            with(
                0x15,
                &[
                    br#"{"t":1,"meta":{"time":1700000000123}}"#,
                    br#"{"t":2,"time":"x"}"#,
                    br#"[{"b":1},2]"#,
                ],
            ),
        ),
        (
            "filtered",
            with(0xF8, &[br#"{"value":1,"a":{"b":true,"c":3}}"#, b"{\"a\":"]),
        ),
    ]
}

fn settings() -> Seeds {
    // jsonData, then the secrets: mqttPassword, httpHeaderValue1, tlsCACert,
    // httpHeaderValue2, httpHeaderValue16.
    const CA: &[u8] =
        b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n";
    vec![
        ("empty", Vec::new()),
        (
            "mqtt",
            parts(&[
                br#"{"mqttUrl":"mqtts://broker.example:8883","mqttUsername":"grafana","mqttClientId":"rs-1","tlsAuthWithCACert":true}"#,
                b"hunter2",
                b"",
                CA,
            ]),
        ),
        (
            "websocket",
            parts(&[
                br#"{"websocketUrl":"wss://feed.example/base/?key=1","httpHeaderName1":"Authorization","httpHeaderName2":"X-Api-Key","httpHeaderName16":"X-Last"}"#,
                b"",
                b"Bearer abc.def",
                b"",
                b"k3y",
                b"last",
            ]),
        ),
        (
            "bad_url",
            parts(&[
                br#"{"mqttUrl":"mqtt://user:pw@host","websocketUrl":"ws://[::1]:0"}"#,
                b"pw",
            ]),
        ),
        (
            "tls_skip",
            parts(&[
                br#"{"websocketUrl":"ws://127.0.0.1:9001","tlsSkipVerify":true,"httpHeaderName1":"Host"}"#,
                b"",
                b"x\r\ny",
            ]),
        ),
    ]
}

/// A frame with a field of every type, labels, config, refId and meta, and rows with
/// nulls, NaN and infinities.
fn frame_of_every_type(capacity: usize) -> RingFrame {
    let mut frame = RingFrame::new(capacity)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| {
            f.with_field(
                Field::new("value", FieldType::Number)
                    .with_labels([("topic", "sensors/a")])
                    .with_config(FieldConfig {
                        unit: Some("celsius".into()),
                        display_name_from_ds: Some("value sensors/a".into()),
                        decimals: Some(2),
                        min: Some(-40.0),
                        ..FieldConfig::default()
                    }),
            )
        })
        .and_then(|f| f.with_field(Field::new("name", FieldType::String)))
        .and_then(|f| f.with_field(Field::new("up", FieldType::Boolean)))
        .expect("a valid schema");
    frame.set_ref_id(Some("A".into()));
    let meta = frame.meta_mut();
    meta.channel = Some("ds/P0123456789/v1/mqtt/tick=100/cap=1000/backfill=1/topic/s".into());
    meta.notices.push(Notice {
        severity: Severity::Warning,
        text: "2 payloads skipped".into(),
    });
    let t = 1_700_000_000_000_000_000_i64;
    let rows: [[Value<'_>; 4]; 4] = [
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
        frame.push_row(row).expect("rows of the schema's types");
    }
    frame
}

fn dataframe_json() -> Seeds {
    let mut frame = frame_of_every_type(3);
    let snapshot = json::snapshot(&frame).into_bytes();

    // A RunStream: the schema with the rows, a data-only packet, a schema change.
    let mut encoder = StreamEncoder::starting_at(0);
    let mut packets = Vec::new();
    let mut out = String::new();
    let mut packet = |frame: &RingFrame| {
        encoder
            .next_packet(frame, &mut out)
            .expect("something to send");
        packets.push(out.clone().into_bytes());
    };
    packet(&frame);
    let t = 1_700_000_000_010_000_000_i64;
    frame
        .push_row(&[
            Value::Time(t),
            Value::Number(2.0),
            Value::String("y"),
            Value::Boolean(false),
        ])
        .expect("a row");
    packet(&frame);
    frame
        .add_field(Field::new("extra", FieldType::Number))
        .expect("a field");
    frame
        .push_row(&[
            Value::Time(t + 5_000_000),
            Value::Number(3.0),
            Value::Null,
            Value::Null,
            Value::Number(-0.25),
        ])
        .expect("a row");
    packet(&frame);
    let stream: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();

    vec![
        ("snapshot", snapshot),
        ("stream", parts(&stream)),
        (
            "guessed_fields",
            parts(&[
                br#"{"data":{"values":[[1700000000000,1700000000500],["1.5","true"]]}}"#,
                br#"{"data":{"values":[[1700000001000],["x"]],"entities":[null,{"Undef":[0]}],"nanos":[[5],null]}}"#,
            ]),
        ),
    ]
}

fn arrow_frames() -> Seeds {
    let empty = RingFrame::new(10)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .expect("a valid schema");
    vec![
        ("every_type.arrow", arrow_ipc(&frame_of_every_type(10))),
        ("no_rows.arrow", arrow_ipc(&empty)),
    ]
}

/// `frame` as an Arrow IPC file, exactly as the plugin's QueryData writes it.
fn arrow_ipc(frame: &RingFrame) -> Vec<u8> {
    let batch = ringstream_frame::arrow::to_record_batch(frame).expect("an Arrow batch");
    let mut bytes = Vec::new();
    let mut writer =
        arrow_ipc::writer::FileWriter::try_new(&mut bytes, &batch.schema()).expect("an IPC writer");
    writer.write(&batch).expect("the batch written");
    writer.finish().expect("the file finished");
    drop(writer);
    bytes
}
