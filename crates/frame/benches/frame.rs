//! `cargo bench -p ringstream-frame`: the figures in docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use grafana_plugin_sdk::backend::StreamPacket;
use ringstream_frame::json::{self, StreamEncoder};
use ringstream_frame::{Field, FieldType, RingFrame, Value};

/// The tutorial's frame (`time`, `value`), filled to capacity so every push overwrites.
fn full_frame(capacity: usize) -> RingFrame {
    let mut frame = RingFrame::new(capacity)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .expect("two fields");
    for i in 0..capacity as i64 {
        frame
            .push_row(&[Value::Time(i), Value::Number(i as f64)])
            .expect("typed row");
    }
    frame
}

fn push(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_push");
    for capacity in [1_000, 100_000] {
        let mut frame = full_frame(capacity);
        let mut t = 0_i64;
        group.bench_function(BenchmarkId::new("row", capacity), |b| {
            b.iter(|| {
                t += 1;
                frame
                    .push_row(black_box(&[Value::Time(t), Value::Number(0.5)]))
                    .unwrap()
            })
        });
        let mut frame = full_frame(capacity);
        group.bench_function(BenchmarkId::new("named", capacity), |b| {
            b.iter(|| {
                t += 1;
                frame
                    .push_named(black_box(&[
                        ("time", Value::Time(t)),
                        ("value", Value::Number(0.5)),
                    ]))
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let frame = full_frame(1_000);
    c.bench_function("ring_read_1000_rows", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for row in black_box(&frame).rows() {
                for value in row.values() {
                    sum += match value {
                        Value::Time(t) => t as f64,
                        Value::Number(x) => x,
                        _ => 0.0,
                    };
                }
            }
            sum
        })
    });
}

/// The tutorial's stream as it really is: a row every 100 ms (whole milliseconds) and a
/// `Math.random()`-like value, filled to capacity.
fn tutorial_frame(capacity: usize) -> RingFrame {
    let mut frame = full_frame(capacity);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..capacity as i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let value = (x >> 11) as f64 / (1u64 << 53) as f64;
        let time = (1_764_288_000_000 + i * 100) * 1_000_000;
        frame
            .push_row(&[Value::Time(time), Value::Number(value)])
            .expect("typed row");
    }
    frame
}

/// Encoding what RunStream sends per tick: a one-row delta (ours) against re-sending the
/// whole frame through the SDK (`data::Frame` + `StreamPacket::from_frame`).
fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    for capacity in [1_000, 100_000] {
        let mut frame = tutorial_frame(capacity);
        let mut encoder = StreamEncoder::starting_at(frame.next_seq());
        let mut out = String::new();
        encoder.next_packet(&frame, &mut out); // the schema packet
        let mut t = 1_800_000_000_000_000_000_i64;
        group.bench_function(BenchmarkId::new("delta_1_row", capacity), |b| {
            b.iter(|| {
                t += 100_000_000;
                frame
                    .push_row(&[Value::Time(t), Value::Number(0.25)])
                    .unwrap();
                encoder.next_packet(black_box(&frame), &mut out).unwrap()
            })
        });
    }
    let frame = tutorial_frame(1_000);
    group.bench_function("snapshot_1000_rows", |b| {
        b.iter(|| json::snapshot(black_box(&frame)))
    });
    group.bench_function("sdk_frame_packet_1000_rows", |b| {
        b.iter(|| {
            let sdk = ringstream_frame::sdk::to_sdk_frame(black_box(&frame)).unwrap();
            StreamPacket::<()>::from_frame(sdk.check().unwrap()).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, push, read, wire);
criterion_main!(benches);
