//! Pushes at capacity allocate nothing: counted by a global allocator, per thread so that
//! tests running beside each other do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringstream_frame::{Field, FieldType, RingFrame, Value};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// thread-local `Cell` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` via `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
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
