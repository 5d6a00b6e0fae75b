//! Pushes at capacity allocate nothing, and `heap_bytes` is what a frame really holds:
//! counted by a global allocator, per thread so that tests running beside each other do not
//! disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringstream_frame::{Field, FieldType, RingFrame, Value};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated and not yet freed by this thread (frees of other threads' blocks
    /// make it wrap, which the tests here never do).
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// thread-local `Cell` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        LIVE.with(|c| c.set(c.get() + layout.size() as i64));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|c| c.set(c.get() - layout.size() as i64));
        // SAFETY: `ptr` came from `System.alloc` via `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        LIVE.with(|c| c.set(c.get() + new_size as i64 - layout.size() as i64));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn tutorial_frame(capacity: usize) -> RingFrame {
    RingFrame::new(capacity)
        .with_field(Field::new("time", FieldType::Time))
        .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
        .and_then(|f| f.with_field(Field::new("ok", FieldType::Boolean)))
        .unwrap()
}

#[test]
fn numeric_pushes_at_capacity_allocate_nothing() {
    for capacity in [1, 7, 1_000] {
        let mut frame = tutorial_frame(capacity);
        for i in 0..capacity as i64 {
            frame
                .push_row(&[Value::Time(i), Value::Number(1.0), Value::Null])
                .unwrap();
        }
        let n = allocations_during(|| {
            for i in 0..10_000_i64 {
                frame
                    .push_row(&[
                        Value::Time(i),
                        Value::Number(i as f64),
                        Value::Boolean(true),
                    ])
                    .unwrap();
                frame
                    .push_named(&[("value", Value::Number(2.0)), ("time", Value::Time(i))])
                    .unwrap();
                frame
                    .push_row(&[Value::Null, Value::Null, Value::Null])
                    .unwrap();
            }
        });
        assert_eq!(
            n, 0,
            "capacity {capacity}: {n} allocations for 30 000 pushes"
        );
        assert_eq!(frame.len(), capacity);
    }
}

#[test]
fn string_pushes_at_capacity_reuse_their_buffers() {
    let mut frame = RingFrame::new(10)
        .with_field(Field::new("s", FieldType::String))
        .unwrap();
    for _ in 0..10 {
        frame.push_row(&[Value::String("warm-up value")]).unwrap();
    }
    let n = allocations_during(|| {
        for _ in 0..1_000 {
            frame.push_row(&[Value::String("steady")]).unwrap();
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that can never fail proves nothing.
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        drop(std::hint::black_box(v));
    });
    assert_eq!(n, 1);
}

/// What `f` leaves allocated on this thread.
fn bytes_kept_by<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let before = LIVE.with(Cell::get);
    let out = f();
    (out, LIVE.with(Cell::get) - before)
}

#[test]
fn heap_bytes_is_what_the_frame_holds() {
    // The frame's cells are counted exactly; its schema is an estimate from above (field
    // structs, names, labels), so the count may exceed what is allocated by a little.
    let check = |frame: &RingFrame, live: i64, when: &str| {
        let claimed = frame.heap_bytes() as i64;
        let slack = 128 * frame.fields().len() as i64;
        assert!(
            claimed >= live && claimed <= live + slack,
            "{when}: heap_bytes {claimed}, allocated {live}"
        );
    };
    let (mut frame, mut live) = bytes_kept_by(|| {
        RingFrame::new(100)
            .with_field(Field::new("time", FieldType::Time))
            .and_then(|f| f.with_field(Field::new("label", FieldType::String)))
            .and_then(|f| f.with_field(Field::new("value", FieldType::Number)))
            .unwrap()
    });
    check(&frame, live, "empty");
    let text = "x".repeat(1000);
    for i in 0..250_usize {
        let ((), grew) = bytes_kept_by(|| {
            let s = &text[..(i * 37) % 1000];
            frame
                .push_row(&[Value::Time(i as i64), Value::String(s), Value::Number(1.0)])
                .unwrap();
        });
        live += grew;
        check(&frame, live, &format!("after push {i}"));
    }
    let ((), changed) = bytes_kept_by(|| frame.set_capacity(10).unwrap());
    live += changed;
    check(&frame, live, "after shrinking to 10 rows");
    assert!(frame.heap_bytes() < 10 * (frame.fixed_bytes_per_row() + 1000) + 2000);
}

#[test]
fn a_full_numeric_frame_holds_capacity_times_fixed_bytes_per_row() {
    let (mut frame, mut live) = bytes_kept_by(|| tutorial_frame(1000));
    let ((), grew) = bytes_kept_by(|| {
        for i in 0..5_000_i64 {
            frame
                .push_row(&[Value::Time(i), Value::Number(1.0), Value::Boolean(true)])
                .unwrap();
        }
    });
    live += grew;
    assert_eq!(frame.fixed_bytes_per_row(), 3 * 9);
    let cells = 1000 * frame.fixed_bytes_per_row() as i64;
    assert!(
        live >= cells && live <= cells + 2048,
        "allocated {live}, cells {cells}"
    );
    assert!(frame.heap_bytes() as i64 >= live);
}
