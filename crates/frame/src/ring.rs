//! [`RingFrame`]: a data frame whose columns are rings of a fixed capacity, the Rust
//! counterpart of `@grafana/data`'s `CircularDataFrame`.

use std::fmt;
use std::str::FromStr;

use crate::column::Column;
use crate::{Field, FrameError, FrameMeta, Value};

/// The largest capacity a [`RingFrame`] accepts: 16 777 216 rows. Far above what a panel
/// shows; it keeps a mistaken capacity from reserving gigabytes.
pub const MAX_CAPACITY: usize = 1 << 24;

/// The most fields a [`RingFrame`] holds: 1 024. Sources that add fields as keys appear
/// (JSON payloads) stop there.
pub const MAX_FIELDS: usize = 1024;

/// Where new rows go, as in `CircularDataFrame`'s `append` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AppendMode {
    /// Rows read oldest → newest; new rows at the end (the default).
    #[default]
    Tail,
    /// Rows read newest → oldest; new rows at the front.
    Head,
}

impl AppendMode {
    /// `tail` or `head`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tail => "tail",
            Self::Head => "head",
        }
    }
}

impl FromStr for AppendMode {
    type Err = FrameError;

    /// Parses `tail` or `head`.
    ///
    /// # Errors
    /// [`FrameError::UnknownAppendMode`] for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tail" => Ok(Self::Tail),
            "head" => Ok(Self::Head),
            other => Err(FrameError::UnknownAppendMode(other.to_owned())),
        }
    }
}

impl fmt::Display for AppendMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A data frame of typed, nullable columns that keeps the newest `capacity` rows.
///
/// Below capacity it grows; at capacity each new row overwrites the oldest, allocating
/// nothing for time, number and boolean cells (string cells reuse their buffers). Rows are
/// read in the frame's order: oldest → newest in [`AppendMode::Tail`], newest → oldest in
/// [`AppendMode::Head`].
///
/// Every row gets a sequence number, the count of rows pushed before it, so a consumer that
/// has seen everything below `n` takes the rest with [`RingFrame::rows_since`].
///
/// Every change to the schema (fields, their labels or config, the frame's name, refId or
/// meta) bumps [`RingFrame::schema_version`], so encoders know when to resend it.
#[derive(Clone)]
pub struct RingFrame {
    name: Option<String>,
    ref_id: Option<String>,
    meta: FrameMeta,
    append: AppendMode,
    capacity: usize,
    fields: Vec<Field>,
    columns: Vec<Column>,
    /// Rows held.
    len: usize,
    /// Slot of the oldest row. Invariant: `start == 0` unless `len == capacity`.
    start: usize,
    /// Rows ever pushed: the sequence number the next row gets.
    next_seq: u64,
    schema_version: u64,
    /// For each field, the index of the key that fills it in a named push (reused, so a
    /// named push allocates nothing).
    scratch: Vec<usize>,
}

impl RingFrame {
    /// An empty frame with no fields.
    ///
    /// # Errors
    /// [`FrameError::ZeroCapacity`] or [`FrameError::CapacityTooLarge`] when `capacity` is
    /// outside `1..=MAX_CAPACITY`.
    pub fn try_new(capacity: usize, append: AppendMode) -> Result<Self, FrameError> {
        check_capacity(capacity)?;
        Ok(Self {
            name: None,
            ref_id: None,
            meta: FrameMeta::default(),
            append,
            capacity,
            fields: Vec::new(),
            columns: Vec::new(),
            len: 0,
            start: 0,
            next_seq: 0,
            schema_version: 0,
            scratch: Vec::new(),
        })
    }

    /// An empty tail-mode frame with no fields.
    ///
    /// # Panics
    /// When `capacity` is outside `1..=MAX_CAPACITY`; use [`RingFrame::try_new`] for a
    /// capacity that comes from input.
    pub fn new(capacity: usize) -> Self {
        match Self::try_new(capacity, AppendMode::Tail) {
            Ok(frame) => frame,
            Err(e) => panic!("RingFrame::new: {e}"),
        }
    }

    /// Builder form of [`RingFrame::add_field`].
    ///
    /// # Errors
    /// As [`RingFrame::add_field`].
    pub fn with_field(mut self, field: Field) -> Result<Self, FrameError> {
        self.add_field(field)?;
        Ok(self)
    }

    // ---- schema -------------------------------------------------------------------------

    /// Adds a field and returns its index. Rows already held get null in it, as
    /// `CircularDataFrame.addField` back-fills `undefined`. Names need not be unique (Grafana
    /// tells fields apart by labels too); a named push fills every field of that name.
    ///
    /// # Errors
    /// [`FrameError::TooManyFields`] past [`MAX_FIELDS`].
    pub fn add_field(&mut self, field: Field) -> Result<usize, FrameError> {
        if self.fields.len() >= MAX_FIELDS {
            return Err(FrameError::TooManyFields { max: MAX_FIELDS });
        }
        let mut column = Column::new(field.field_type());
        for _ in 0..self.len {
            column.push(Value::Null, self.capacity);
        }
        self.fields.push(field);
        self.columns.push(column);
        self.scratch.push(usize::MAX);
        self.schema_version += 1;
        Ok(self.fields.len() - 1)
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field at `index`.
    pub fn field(&self, index: usize) -> Option<&Field> {
        self.fields.get(index)
    }

    /// Mutable access to a field's labels and config (its name and type are fixed). Counts
    /// as a schema change.
    pub fn field_mut(&mut self, index: usize) -> Option<&mut Field> {
        let field = self.fields.get_mut(index)?;
        self.schema_version += 1;
        Some(field)
    }

    /// The index of the first field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name() == name)
    }

    /// The frame's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sets the frame's name (a schema change).
    pub fn set_name(&mut self, name: Option<String>) {
        self.name = name;
        self.schema_version += 1;
    }

    /// The frame's refId: the query it answers.
    pub fn ref_id(&self) -> Option<&str> {
        self.ref_id.as_deref()
    }

    /// Sets the refId (a schema change).
    pub fn set_ref_id(&mut self, ref_id: Option<String>) {
        self.ref_id = ref_id;
        self.schema_version += 1;
    }

    /// The frame's meta.
    pub fn meta(&self) -> &FrameMeta {
        &self.meta
    }

    /// Mutable access to the meta (a schema change).
    pub fn meta_mut(&mut self) -> &mut FrameMeta {
        self.schema_version += 1;
        &mut self.meta
    }

    /// A counter that changes whenever the schema may have: fields added, a field's labels
    /// or config touched, the name, refId or meta set.
    pub fn schema_version(&self) -> u64 {
        self.schema_version
    }

    // ---- shape --------------------------------------------------------------------------

    /// Rows held (at most the capacity).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most rows held before the oldest is dropped.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes the frame holds on the heap: its cells as allocated (a column grows
    /// towards the capacity, never past it), the buffers of its strings, and its fields'
    /// names, labels and display names. What a memory budget charges for a frame; costs a
    /// few operations per field, not per row.
    pub fn heap_bytes(&self) -> usize {
        let cells: usize = self.columns.iter().map(Column::heap_bytes).sum();
        // A label costs its two strings and, roughly, its share of a B-tree node.
        const LABEL_OVERHEAD: usize = 64;
        let schema: usize = self
            .fields
            .iter()
            .map(|f| {
                f.name().len()
                    + f.labels
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + LABEL_OVERHEAD)
                        .sum::<usize>()
                    + f.config
                        .display_name_from_ds
                        .as_ref()
                        .map_or(0, String::len)
            })
            .sum::<usize>()
            + self.fields.capacity() * std::mem::size_of::<Field>()
            + self.columns.capacity() * std::mem::size_of::<Column>();
        cells + schema + self.scratch.capacity() * std::mem::size_of::<usize>()
    }

    /// The bytes one row costs across the fields, string contents aside: what a full
    /// frame of fixed-width fields holds is `capacity × fixed_bytes_per_row` (plus the
    /// schema).
    pub fn fixed_bytes_per_row(&self) -> usize {
        self.columns.iter().map(Column::fixed_bytes_per_row).sum()
    }

    /// The append mode.
    pub fn append_mode(&self) -> AppendMode {
        self.append
    }

    /// Switches the append mode; the rows stay, only the order they are read in flips (as
    /// `CircularVector.setAppendMode` reverses its buffer).
    pub fn set_append_mode(&mut self, append: AppendMode) {
        self.append = append;
    }

    /// Changes the capacity. Shrinking keeps the newest rows; growing keeps every row.
    /// Memory beyond the new capacity is released.
    ///
    /// # Errors
    /// [`FrameError::ZeroCapacity`] or [`FrameError::CapacityTooLarge`]; the frame is
    /// unchanged then.
    pub fn set_capacity(&mut self, capacity: usize) -> Result<(), FrameError> {
        check_capacity(capacity)?;
        if capacity == self.capacity {
            return Ok(());
        }
        let keep = self.len.min(capacity);
        let first = self.len - keep; // oldest rows dropped
        let slots: Vec<usize> = (first..self.len).map(|i| self.slot(i)).collect();
        for column in &mut self.columns {
            column.rebuild(slots.iter().copied(), capacity);
        }
        self.capacity = capacity;
        self.len = keep;
        self.start = 0;
        Ok(())
    }

    /// Drops every row; fields, schema and sequence numbering stay.
    pub fn clear(&mut self) {
        for column in &mut self.columns {
            column.rebuild(std::iter::empty(), self.capacity);
        }
        self.len = 0;
        self.start = 0;
    }

    // ---- pushing ------------------------------------------------------------------------

    /// Pushes a row given by position: one value per field, in field order. Returns the
    /// row's sequence number.
    ///
    /// # Errors
    /// [`FrameError::NoFields`], [`FrameError::RowLength`] or [`FrameError::TypeMismatch`];
    /// nothing is written then.
    pub fn push_row(&mut self, row: &[Value<'_>]) -> Result<u64, FrameError> {
        if self.fields.is_empty() {
            return Err(FrameError::NoFields);
        }
        if row.len() != self.fields.len() {
            return Err(FrameError::RowLength {
                expected: self.fields.len(),
                got: row.len(),
            });
        }
        if let Some(j) = self
            .columns
            .iter()
            .zip(row)
            .position(|(c, v)| !c.accepts(v))
        {
            return Err(type_mismatch(&self.fields[j], &row[j]));
        }
        match self.claim_slot() {
            Some(slot) => {
                for (column, value) in self.columns.iter_mut().zip(row) {
                    column.set(slot, value);
                }
            }
            None => {
                for (column, value) in self.columns.iter_mut().zip(row) {
                    column.push(*value, self.capacity);
                }
            }
        }
        Ok(self.commit_row())
    }

    /// Pushes a row given by field name, like `CircularDataFrame.add`: fields without a key
    /// get null, keys without a field are ignored, and of repeated keys the last wins.
    /// Returns the row's sequence number.
    ///
    /// # Errors
    /// [`FrameError::NoFields`] or [`FrameError::TypeMismatch`]; nothing is written then.
    pub fn push_named(&mut self, row: &[(&str, Value<'_>)]) -> Result<u64, FrameError> {
        if self.fields.is_empty() {
            return Err(FrameError::NoFields);
        }
        for (j, field) in self.fields.iter().enumerate() {
            let found = row.iter().rposition(|(k, _)| *k == field.name());
            if let Some(k) = found {
                if !self.columns[j].accepts(&row[k].1) {
                    return Err(type_mismatch(field, &row[k].1));
                }
            }
            self.scratch[j] = found.unwrap_or(usize::MAX);
        }
        let slot = self.claim_slot();
        for (column, &k) in self.columns.iter_mut().zip(&self.scratch) {
            let value = row.get(k).map_or(Value::Null, |(_, v)| *v);
            write(column, slot, value, self.capacity);
        }
        Ok(self.commit_row())
    }

    /// The slot the next row goes to: `None` while growing (append), else the oldest slot.
    fn claim_slot(&self) -> Option<usize> {
        (self.len == self.capacity).then_some(self.start)
    }

    fn commit_row(&mut self) -> u64 {
        if self.len < self.capacity {
            self.len += 1;
        } else {
            self.start += 1;
            if self.start == self.capacity {
                self.start = 0;
            }
        }
        self.next_seq += 1;
        self.next_seq - 1
    }

    // ---- reading ------------------------------------------------------------------------

    /// The slot of the `i`-th oldest row (`i < len`).
    fn slot(&self, i: usize) -> usize {
        let s = self.start + i;
        if s >= self.capacity {
            s - self.capacity
        } else {
            s
        }
    }

    /// Push-order position (0 = oldest) of the row at frame position `row`.
    fn push_order(&self, row: usize) -> usize {
        match self.append {
            AppendMode::Tail => row,
            AppendMode::Head => self.len - 1 - row,
        }
    }

    /// The cell at frame position `row` of field `field`, `None` when either is out of range.
    pub fn get(&self, row: usize, field: usize) -> Option<Value<'_>> {
        self.row(row)?.get(field)
    }

    /// The row at frame position `index` (head mode: 0 is the newest).
    pub fn row(&self, index: usize) -> Option<Row<'_>> {
        (index < self.len).then(|| self.row_at_push_order(self.push_order(index)))
    }

    fn row_at_push_order(&self, i: usize) -> Row<'_> {
        Row {
            frame: self,
            slot: self.slot(i),
            seq: self.first_seq() + i as u64,
        }
    }

    /// Every row, in the frame's order.
    pub fn rows(&self) -> Rows<'_> {
        Rows {
            frame: self,
            front: 0,
            back: self.len,
            frame_order: true,
        }
    }

    /// The cells of field `field`, in the frame's order.
    pub fn column(&self, field: usize) -> Option<impl ExactSizeIterator<Item = Value<'_>> + '_> {
        (field < self.columns.len()).then(|| self.rows().cells(field))
    }

    /// The sequence number the next pushed row gets (rows ever pushed).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The sequence number of the oldest row held (equals [`next_seq`](Self::next_seq) when
    /// empty).
    pub fn first_seq(&self) -> u64 {
        self.next_seq - self.len as u64
    }

    /// The rows whose sequence number is `seq` or later, oldest first whatever the append
    /// mode. [`RowsSince::missed`] counts rows at or after `seq` that were already dropped.
    pub fn rows_since(&self, seq: u64) -> RowsSince<'_> {
        self.rows_between(seq, self.next_seq)
    }

    /// The rows whose sequence number is in `start..end`, oldest first whatever the append
    /// mode; [`RowsSince::missed`] counts the ones in that range already dropped.
    pub fn rows_between(&self, start: u64, end: u64) -> RowsSince<'_> {
        let first = self.first_seq();
        let from = start.clamp(first, self.next_seq);
        let to = end.clamp(from, self.next_seq);
        RowsSince {
            missed: first.min(end).saturating_sub(start),
            rows: Rows {
                frame: self,
                front: (from - first) as usize,
                back: (to - first) as usize,
                frame_order: false,
            },
        }
    }
}

fn check_capacity(capacity: usize) -> Result<(), FrameError> {
    if capacity == 0 {
        return Err(FrameError::ZeroCapacity);
    }
    if capacity > MAX_CAPACITY {
        return Err(FrameError::CapacityTooLarge {
            got: capacity,
            max: MAX_CAPACITY,
        });
    }
    Ok(())
}

/// The error for a value the field's column does not accept (never null).
#[cold]
fn type_mismatch(field: &Field, value: &Value<'_>) -> FrameError {
    FrameError::TypeMismatch {
        field: field.name().to_owned(),
        expected: field.field_type(),
        got: value.field_type().unwrap_or(field.field_type()),
    }
}

fn write(column: &mut Column, slot: Option<usize>, value: Value<'_>, capacity: usize) {
    match slot {
        Some(i) => column.set(i, &value),
        None => column.push(value, capacity),
    }
}

impl fmt::Debug for RingFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingFrame")
            .field("name", &self.name)
            .field("ref_id", &self.ref_id)
            .field("append", &self.append)
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .field("next_seq", &self.next_seq)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

/// One row of a [`RingFrame`].
#[derive(Clone, Copy)]
pub struct Row<'a> {
    frame: &'a RingFrame,
    slot: usize,
    seq: u64,
}

impl<'a> Row<'a> {
    /// The cell of field `field`.
    pub fn get(&self, field: usize) -> Option<Value<'a>> {
        Some(self.frame.columns.get(field)?.get(self.slot))
    }

    /// The row's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The cells, in field order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = Value<'a>> + 'a {
        let slot = self.slot;
        self.frame.columns.iter().map(move |c| c.get(slot))
    }
}

impl fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("seq", &self.seq)
            .field("values", &self.values().collect::<Vec<_>>())
            .finish()
    }
}

/// An iterator over rows, from [`RingFrame::rows`] or [`RingFrame::rows_since`].
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    frame: &'a RingFrame,
    front: usize,
    back: usize,
    /// Frame order (flipped in head mode) rather than push order.
    frame_order: bool,
}

impl<'a> Rows<'a> {
    fn at(&self, i: usize) -> Row<'a> {
        let i = if self.frame_order {
            self.frame.push_order(i)
        } else {
            i
        };
        self.frame.row_at_push_order(i)
    }
}

impl<'a> Rows<'a> {
    /// The cells of field `j` in these rows, in iteration order, read straight from the
    /// column (the encoders' hot loop: no `Row` per cell).
    pub(crate) fn cells(&self, j: usize) -> impl ExactSizeIterator<Item = Value<'a>> + 'a {
        let frame = self.frame;
        let column = &frame.columns[j];
        let frame_order = self.frame_order;
        (self.front..self.back).map(move |i| {
            let i = if frame_order { frame.push_order(i) } else { i };
            column.get(frame.slot(i))
        })
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Row<'a>;

    fn next(&mut self) -> Option<Row<'a>> {
        (self.front < self.back).then(|| {
            self.front += 1;
            self.at(self.front - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Rows<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            self.at(self.back)
        })
    }
}

impl ExactSizeIterator for Rows<'_> {}

/// The rows since a sequence number, oldest first: see [`RingFrame::rows_since`].
#[derive(Debug, Clone)]
pub struct RowsSince<'a> {
    missed: u64,
    rows: Rows<'a>,
}

impl<'a> RowsSince<'a> {
    /// Rows at or after the asked-for sequence number that the ring had already dropped: a
    /// consumer that fell this far behind has a gap.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The rows still held, oldest first.
    pub fn rows(&self) -> Rows<'a> {
        self.rows.clone()
    }
}

impl<'a> IntoIterator for RowsSince<'a> {
    type Item = Row<'a>;
    type IntoIter = Rows<'a>;

    fn into_iter(self) -> Rows<'a> {
        self.rows
    }
}
