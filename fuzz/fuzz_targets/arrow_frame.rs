//! QueryData frames, Arrow IPC files as Grafana's frontend reads them, into the harness's
//! decoder (`QueryFrame::from_arrow_ipc`), then into the DataFrameJSON message a panel
//! pushes and the table `watch` prints.
//!
//! `from_arrow_ipc` runs arrow-rs's reader under `catch_unwind` by design (third-party code
//! fed untrusted bytes; a panic there must be an error like any other bad frame). libFuzzer's
//! panic hook aborts before unwinding, so the `init` block wraps it: a panic while the reader
//! runs is let through to that `catch_unwind` (and counted on stderr), any other panic still
//! aborts and is a crash.
//!
//! Regression (fuzz/regressions/arrow_frame/): arrow-ipc 60's `FileReader` allocates what a
//! footer block claims before reading it, so a 2 KB file made the decoder allocate
//! gigabytes; the harness now checks every block against the file first and the input is an
//! error.
//!
//! Invariants: a decoded frame converts to a message with one column per field, each as
//! long as the field; a new panel frame takes that message whole (every row) or refuses it
//! only as not modelled (the labels mode); the table starts with its header line.
#![no_main]

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use ringstream_harness::live::{LiveFrame, LiveOptions};
use ringstream_harness::query_frame::QueryFrame;
use ringstream_harness::HarnessError;

thread_local! {
    /// Set while `from_arrow_ipc` runs.
    static IN_DECODER: Cell<bool> = const { Cell::new(false) };
}
/// Panics of the Arrow reader caught by `from_arrow_ipc`.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

fn let_decoder_panics_unwind() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_DECODER.with(Cell::get) {
            let n = CAUGHT.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                eprintln!("arrow_frame: the Arrow reader panicked ({n} so far, caught): {info}");
            }
        } else {
            abort(info);
        }
    }));
}

fuzz_target!(init: let_decoder_panics_unwind(), |data: &[u8]| {
    IN_DECODER.with(|f| f.set(true));
    let decoded = QueryFrame::from_arrow_ipc(data);
    IN_DECODER.with(|f| f.set(false));
    let Ok(frame) = decoded else { return };

    let msg = frame.to_data_frame_json();
    let values = msg.data.as_ref().map_or(&[][..], |d| &d.values[..]);
    assert_eq!(values.len(), frame.fields.len(), "one column per field");
    for (column, field) in values.iter().zip(&frame.fields) {
        assert_eq!(column.len(), field.values.len(), "column of {:?}", field.name);
    }
    let mut panel = LiveFrame::new(LiveOptions::default());
    match panel.push(&msg) {
        Ok(()) if !frame.is_empty() => assert_eq!(panel.len(), frame.len(), "rows in the panel"),
        Ok(()) | Err(HarnessError::Unsupported(_)) => {}
        Err(e) => panic!("a query frame the panel refuses: {e}"),
    }
    let table = frame.to_table();
    assert!(table.starts_with("frame "), "{table}");
});
