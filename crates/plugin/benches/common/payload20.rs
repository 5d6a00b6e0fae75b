//! The benchmarks' 20-field JSON payload, shared by `mqtt.rs` and the harness's
//! `engines.rs` (included by path), so that their figures are comparable.

/// 20 fields: a timestamp, 13 numbers, 4 strings, 2 booleans (about 420 bytes), all
/// different from one message to the next.
pub(crate) fn payload(i: u64) -> Vec<u8> {
    let x = i as f64;
    format!(
        concat!(
            r#"{{"ts":{},"device":"press-{:03}","site":"plant-7","line":"line-1","status":"{}","#,
            r#""temperature":{:.2},"pressure":{:.3},"humidity":{:.1},"vibration":{:.4},"rpm":{},"#,
            r#""power_kw":{:.2},"voltage":{:.1},"current":{:.2},"flow":{:.3},"level":{:.1},"#,
            r#""cycle":{},"errors":{},"uptime_s":{},"running":{},"alarm":{}}}"#
        ),
        1_700_000_000_000u64 + i,
        i % 500,
        if i.is_multiple_of(7) { "warming" } else { "ok" },
        20.0 + (x * 0.01).sin() * 5.0,
        1.013 + (x * 0.001).cos() * 0.01,
        45.0 + (i % 100) as f64 * 0.1,
        (x * 0.1).sin().abs() * 0.02,
        1400 + i % 200,
        72.5 + (i % 50) as f64 * 0.25,
        229.0 + (i % 20) as f64 * 0.1,
        31.5 + (i % 30) as f64 * 0.05,
        12.0 + (x * 0.02).sin(),
        80.0 - (i % 40) as f64 * 0.5,
        i,
        i % 3,
        3600 + i,
        !i.is_multiple_of(11),
        i.is_multiple_of(97),
    )
    .into_bytes()
}
