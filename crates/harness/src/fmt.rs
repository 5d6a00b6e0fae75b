//! Text for people: timestamps, numbers and aligned tables, shared by the frame tables,
//! the panel view and `watch`. Deterministic (UTC, no locale), so tables can be snapshots.

/// Epoch milliseconds (with an optional sub-millisecond remainder in nanoseconds) as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), `.mmmuuunnnZ` when the remainder is not zero.
pub(crate) fn time(ms: i64, sub_ms_nanos: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    if sub_ms_nanos == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}{sub_ms_nanos:06}Z")
    }
}

/// A time cell of the panel (a JavaScript number of milliseconds).
pub(crate) fn time_f64(ms: f64) -> String {
    if ms.is_finite() && ms.abs() < 8.64e15 {
        time(
            ms.floor() as i64,
            ((ms - ms.floor()) * 1e6).round() as i64 % 1_000_000,
        )
    } else {
        number(ms)
    }
}

/// A number as JavaScript would print it, near enough: integers without a fraction,
/// `NaN`, `+Inf`, `-Inf`.
pub(crate) fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if x == 0.0 {
        "0".into() // -0 too
    } else {
        format!("{x}")
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), valid for every `i64` day count a timestamp in
/// milliseconds can produce.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// An aligned text table: a header row, a rule, then the rows. Cells are padded to the
/// widest cell of their column (by characters, so non-ASCII text stays aligned).
pub(crate) fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (j, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(j) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (j, w) in widths.iter().enumerate() {
            let cell = cells.get(j).map_or("", String::as_str);
            text.push_str("| ");
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', w - cell.chars().count().min(*w)));
            text.push(' ');
        }
        text.push('|');
        out.push_str(&text);
        out.push('\n');
    };
    line(headers);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule);
    for row in rows {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(time(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(time(1_700_000_000_123, 0), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            time(1_700_000_000_123, 456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(time(-1, 0), "1969-12-31T23:59:59.999Z");
        assert_eq!(time(951_782_400_000, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(time_f64(1_700_000_000_123.0), "2023-11-14T22:13:20.123Z");
        // Extremes format without panicking.
        let _ = time(i64::MAX, 999_999);
        let _ = time(i64::MIN, 0);
        assert_eq!(time_f64(f64::NAN), "NaN");
    }

    #[test]
    fn formats_numbers_like_javascript() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn aligns_tables() {
        let t = table(
            &["a".into(), "long header".into()],
            &[vec!["é".into(), "1".into()], vec!["xyz".into()]],
        );
        assert_eq!(
            t,
            "| a   | long header |\n| --- | ----------- |\n| é   | 1           |\n| xyz |             |\n"
        );
    }
}
