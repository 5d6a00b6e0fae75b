//! What the Arrow-based conversions (`arrow`, `sdk`) share: a string column's cells, checked
//! against the most bytes an Arrow `Utf8` column holds (its offsets are `i32`).

use crate::{FrameError, Value};

/// The most bytes of string data one Arrow `Utf8` column holds.
const MAX_UTF8_BYTES: usize = i32::MAX as usize;

/// The cells of string field `field` as `Option<&str>`.
///
/// # Errors
/// [`FrameError::StringColumnTooLarge`] when they add up to more than `i32::MAX` bytes (the
/// Arrow builders of both arrow-rs and the SDK's arrow2 would panic).
pub(crate) fn string_cells<'a>(
    field: &str,
    cells: impl Iterator<Item = Value<'a>>,
) -> Result<Vec<Option<&'a str>>, FrameError> {
    let strings: Vec<Option<&str>> = cells
        .map(|v| match v {
            Value::String(s) => Some(s),
            _ => None,
        })
        .collect();
    check_bytes(field, strings.iter().flatten().map(|s| s.len()).sum())?;
    Ok(strings)
}

fn check_bytes(field: &str, bytes: usize) -> Result<(), FrameError> {
    if bytes > MAX_UTF8_BYTES {
        return Err(FrameError::StringColumnTooLarge {
            field: field.to_owned(),
            bytes,
            max: MAX_UTF8_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A column past 2 GiB cannot be built in a test; the limit check itself can.
    #[test]
    fn utf8_limit_is_i32_max() {
        assert_eq!(check_bytes("s", i32::MAX as usize), Ok(()));
        assert_eq!(
            check_bytes("s", i32::MAX as usize + 1),
            Err(FrameError::StringColumnTooLarge {
                field: "s".into(),
                bytes: i32::MAX as usize + 1,
                max: i32::MAX as usize,
            })
        );
    }
}
