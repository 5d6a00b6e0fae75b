//! `cargo bench -p ringstream-frame`: the figures in docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
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

criterion_group!(benches, push, read);
criterion_main!(benches);
