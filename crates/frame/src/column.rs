//! Private storage: one typed, nullable column, stored in push order with the ring's wrap.
//! Kept private so the layout can change without touching the API.
//!
//! Time, number and boolean cells share one representation, a `u64` payload (an `i64`, the
//! bits of an `f64`, or 0/1), so overwriting a cell is one store whatever its type; strings
//! live in their own `String`s, whose buffers are reused when overwritten.

use crate::{FieldType, Value};

/// Grows `v` by at most what `capacity` still allows, so a column never holds more than its
/// ring's capacity even while it grows (amortised doubling would overshoot it).
fn reserve_toward<T>(v: &mut Vec<T>, capacity: usize) {
    if v.len() == v.capacity() {
        let want = v.len().max(16).min(capacity.saturating_sub(v.len())).max(1);
        v.reserve_exact(want);
    }
}

/// A string slot keeps its buffer when overwritten (no allocation in the steady state) unless
/// the buffer is far larger than what it now holds, which would pin memory. Returns the
/// slot's buffer size before and after, for the column's byte count.
fn store_string(slot: &mut String, s: &str) -> (usize, usize) {
    let before = slot.capacity();
    if before > 4 * s.len().max(16) {
        *slot = s.to_owned();
    } else {
        slot.clear();
        slot.push_str(s);
    }
    (before, slot.capacity())
}

/// The `u64` payload of a non-string cell.
///
/// Written as two tests and a call rather than one `match`: a five-way match compiles to a
/// jump table, and an indirect jump per cell cost several times the whole push on the
/// (virtualised) machines measured in docs/PERFORMANCE.md.
#[inline(always)]
fn payload(value: &Value<'_>) -> u64 {
    if let Value::Number(x) = value {
        x.to_bits()
    } else if let Value::Time(t) = value {
        *t as u64
    } else {
        rare_payload(value)
    }
}

#[inline(never)]
fn rare_payload(value: &Value<'_>) -> u64 {
    match value {
        Value::Boolean(b) => u64::from(*b),
        _ => 0,
    }
}

/// A number per cell type: 0 for null, then one per [`FieldType`].
#[inline(always)]
fn tag(value: &Value<'_>) -> u8 {
    match value {
        Value::Null => 0,
        Value::Time(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Boolean(_) => 4,
    }
}

/// One column's cells. Slot `i` of every column belongs to the same row.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    field_type: FieldType,
    /// [`tag`] of this column's cells.
    tag: u8,
    /// Payloads of time, number and boolean cells (empty for a string column).
    payloads: Vec<u64>,
    /// Cells of a string column (empty otherwise).
    strings: Vec<String>,
    /// `valid[i]`: slot `i` holds a value (not null).
    valid: Vec<bool>,
    /// The sum of the buffer sizes of `strings`, kept as they change so that
    /// [`Column::heap_bytes`] costs nothing per row.
    string_bytes: usize,
}

impl Column {
    pub(crate) fn new(field_type: FieldType) -> Self {
        Self {
            field_type,
            tag: tag(&match field_type {
                FieldType::Time => Value::Time(0),
                FieldType::Number => Value::Number(0.0),
                FieldType::String => Value::String(""),
                FieldType::Boolean => Value::Boolean(false),
            }),
            payloads: Vec::new(),
            strings: Vec::new(),
            valid: Vec::new(),
            string_bytes: 0,
        }
    }

    /// The bytes this column holds on the heap: its cell vectors as allocated, and the
    /// buffers of its strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.payloads.capacity() * std::mem::size_of::<u64>()
            + self.strings.capacity() * std::mem::size_of::<String>()
            + self.valid.capacity()
            + self.string_bytes
    }

    /// The bytes one more row costs this column, string contents aside.
    pub(crate) fn fixed_bytes_per_row(&self) -> usize {
        1 + if self.field_type == FieldType::String {
            std::mem::size_of::<String>()
        } else {
            std::mem::size_of::<u64>()
        }
    }

    /// Whether `value` fits this column (null fits every column).
    #[inline(always)]
    pub(crate) fn accepts(&self, value: &Value<'_>) -> bool {
        // Compares small integers (a table lookup) instead of branching on both enums.
        let tag = tag(value);
        tag == 0 || tag == self.tag
    }

    /// Appends a cell; the caller has checked the type and that the ring is not full.
    pub(crate) fn push(&mut self, value: Value<'_>, capacity: usize) {
        if self.field_type == FieldType::String {
            reserve_toward(&mut self.strings, capacity);
            let s = if let Value::String(s) = value { s } else { "" };
            let owned = s.to_owned();
            self.string_bytes += owned.capacity();
            self.strings.push(owned);
        } else {
            reserve_toward(&mut self.payloads, capacity);
            self.payloads.push(payload(&value));
        }
        reserve_toward(&mut self.valid, capacity);
        self.valid.push(!value.is_null());
    }

    /// Overwrites slot `i`; the caller has checked the type.
    #[inline(always)] // the hot path of every push at capacity
    pub(crate) fn set(&mut self, i: usize, value: &Value<'_>) {
        // By reference: copying the cell first made the push wait on store forwarding.
        if self.field_type == FieldType::String {
            self.set_string(i, value);
        } else {
            self.payloads[i] = payload(value);
        }
        self.valid[i] = !value.is_null();
    }

    #[inline(never)]
    fn set_string(&mut self, i: usize, value: &Value<'_>) {
        match *value {
            Value::String(s) => {
                let (before, after) = store_string(&mut self.strings[i], s);
                self.string_bytes = self.string_bytes - before + after;
            }
            _ => self.strings[i].clear(),
        }
    }

    /// The cell in slot `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Value<'_> {
        if !self.valid[i] {
            return Value::Null;
        }
        match self.field_type {
            FieldType::Time => Value::Time(self.payloads[i] as i64),
            FieldType::Number => Value::Number(f64::from_bits(self.payloads[i])),
            FieldType::String => Value::String(&self.strings[i]),
            FieldType::Boolean => Value::Boolean(self.payloads[i] != 0),
        }
    }

    /// Rebuilds the column from the cells at `slots`, in that order, within `capacity`.
    pub(crate) fn rebuild(&mut self, slots: impl Iterator<Item = usize>, capacity: usize) {
        let mut fresh = Column::new(self.field_type);
        for i in slots {
            fresh.push(self.get(i), capacity);
        }
        *self = fresh;
    }
}
