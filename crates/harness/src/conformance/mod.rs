//! Conformance runners: the Rust side of the `@grafana/data` oracle.
//!
//! Each runner reads a JSON script and returns a frame as JSON in the oracle's format:
//! `{"length": N, "fields": [{"name", "type", "values": [...]}]}`, with time values in epoch
//! milliseconds, null for missing values, and values in the frame's own order.

pub mod live;
pub mod ring;

use ringstream_frame::Value;
use serde_json::{json, Number};

/// A cell as the oracle prints it: time in epoch milliseconds, integral numbers without a
/// fraction (as JavaScript prints them), NaN and ±Inf as the strings JavaScript would show.
pub fn cell_json(value: Value<'_>) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Time(ns) => {
            // Whole milliseconds and the remainder apart: ns as f64 would round at 2^53.
            let (ms, rem) = (ns.div_euclid(1_000_000), ns.rem_euclid(1_000_000));
            if rem == 0 {
                json!(ms)
            } else {
                number_json(ms as f64 + rem as f64 / 1e6)
            }
        }
        Value::Number(x) => number_json(x),
        Value::String(s) => json!(s),
        Value::Boolean(b) => json!(b),
    }
}

fn number_json(x: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else if x.fract() == 0.0 && x.abs() < EXACT && !(x == 0.0 && x.is_sign_negative()) {
        json!(x as i64)
    } else {
        Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// Milliseconds (possibly fractional) as epoch nanoseconds, or `None` when out of `i64` range.
pub fn ms_to_ns(ms: f64) -> Option<i64> {
    if !ms.is_finite() || ms.abs() >= i64::MAX as f64 / 1e6 {
        return None;
    }
    // Whole milliseconds and the fraction apart: ms * 1e6 would round above 2^53.
    let whole = ms.floor();
    let frac_ns = ((ms - whole) * 1e6).round() as i64;
    (whole as i64).checked_mul(1_000_000)?.checked_add(frac_ns)
}
