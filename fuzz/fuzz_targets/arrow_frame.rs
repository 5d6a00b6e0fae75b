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
//! Known bug, skipped (input under fuzz/regressions/arrow_frame/): arrow-ipc 60's
//! `FileReader` allocates and zeroes a buffer of the length a footer block *claims*
//! (`metaDataLength + bodyLength`) before reading it, so a 2 KB file can make
//! `from_arrow_ipc` allocate gigabytes (libFuzzer: out-of-memory). Inputs whose blocks claim
//! more bytes than the file has are skipped ([`claims_more_than_it_holds`]) until the harness
//! bounds that (e.g. by checking the blocks against the input, or decoding the bytes in
//! place with `FileDecoder`); then the skip goes and the regression input must pass.
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

/// Whether a footer block of the Arrow file `data` claims more bytes than `data` holds (the
/// known bug above). Reads the footer as `FileReader` does; `false` for anything it would
/// refuse before reading a block.
fn claims_more_than_it_holds(data: &[u8]) -> bool {
    let Some(trailer_start) = data.len().checked_sub(10) else {
        return false;
    };
    let Ok(trailer) = data[trailer_start..].try_into() else {
        return false;
    };
    let Ok(footer_len) = arrow_ipc::reader::read_footer_length(trailer) else {
        return false;
    };
    let Some(footer_start) = trailer_start.checked_sub(footer_len) else {
        return false;
    };
    let Ok(footer) = arrow_ipc::root_as_footer(&data[footer_start..trailer_start]) else {
        return false;
    };
    let batches = footer.recordBatches().into_iter().flatten();
    let dictionaries = footer.dictionaries().into_iter().flatten();
    batches.chain(dictionaries).any(|block| {
        i128::from(block.metaDataLength()) + i128::from(block.bodyLength()) > data.len() as i128
    })
}

fuzz_target!(init: let_decoder_panics_unwind(), |data: &[u8]| {
    if claims_more_than_it_holds(data) {
        return;
    }
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
