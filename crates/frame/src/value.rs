//! Field types and cell values.

use std::fmt;
use std::str::FromStr;

use crate::FrameError;

/// The type of a field: what its cells hold. The names are Grafana's (`FieldType` in
/// `@grafana/data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Instants as epoch nanoseconds (`i64`).
    Time,
    /// 64-bit floats, NaN and ±Inf included.
    Number,
    /// UTF-8 strings.
    String,
    /// Booleans.
    Boolean,
}

impl FieldType {
    /// Every field type, in declaration order.
    pub const ALL: [FieldType; 4] = [Self::Time, Self::Number, Self::String, Self::Boolean];

    /// The name Grafana uses: `time`, `number`, `string` or `boolean`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Time => "time",
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldType {
    type Err = FrameError;

    /// Parses Grafana's type name.
    ///
    /// # Errors
    /// [`FrameError::UnknownFieldType`] for anything but the four names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| FrameError::UnknownFieldType(s.to_owned()))
    }
}

/// One cell: a value of one of the four types, or null. Strings are borrowed, so pushing
/// and reading rows copies no more than the ring itself stores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// No value (JavaScript's `undefined` or `null`).
    Null,
    /// Epoch nanoseconds.
    Time(i64),
    /// A float.
    Number(f64),
    /// A string.
    String(&'a str),
    /// A boolean.
    Boolean(bool),
}

impl Value<'_> {
    /// The value's type, or `None` for null (which fits every field).
    pub const fn field_type(&self) -> Option<FieldType> {
        match self {
            Value::Null => None,
            Value::Time(_) => Some(FieldType::Time),
            Value::Number(_) => Some(FieldType::Number),
            Value::String(_) => Some(FieldType::String),
            Value::Boolean(_) => Some(FieldType::Boolean),
        }
    }

    /// Whether this is [`Value::Null`].
    pub const fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::String(v)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
