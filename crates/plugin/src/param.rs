//! Query parameters, declared once: name, type, default, range or allowed values, unit and
//! doc. Validation ([`Param::read`]), the channel-path encoding ([`Param::write_path_value`],
//! [`Param::read_path_value`]) and the exported JSON Schema ([`Param::schema`]) all come
//! from the same [`Param`], so they cannot disagree.
//!
//! A [`Param`] knows its own rules; rules between parameters (`min < max`) belong to the
//! source that declares them and are checked where it builds its query.

use std::fmt::Write as _;

use serde_json::{json, Map, Value as Json};

use crate::query::QueryError;

/// A source's own rule for a text parameter: the problem, in words, when the text breaks it.
pub type TextCheck = fn(&str) -> Result<(), String>;

/// What a parameter holds and which values are allowed.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An integer in `min ..= max`; without a default the parameter is optional.
    Integer {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
        /// The value when absent; `None`: absent stays absent.
        default: Option<u64>,
    },
    /// A finite number in `min ..= max`.
    Number {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
        /// The value when absent.
        default: f64,
    },
    /// `true` or `false`.
    Boolean {
        /// The value when absent.
        default: bool,
    },
    /// One of a list of names.
    Choice {
        /// The names, in the order the docs list them.
        values: &'static [&'static str],
        /// The value when absent or empty.
        default: &'static str,
    },
    /// Text of at most `max_len` bytes without control characters, checked by `check` too.
    Text {
        /// Longest allowed, in bytes.
        max_len: usize,
        /// When absent: `Some(message)` makes it required (the message says what to give),
        /// `None` leaves it absent.
        required: Option<&'static str>,
        /// What kind of text, for "expected a string (…)" errors.
        what: &'static str,
        /// The source's own rules for the text; the error is the problem, in words.
        check: Option<TextCheck>,
    },
    /// A list of names, kept sorted and without repeats; empty means absent.
    Names {
        /// Most names.
        max_items: usize,
        /// Longest name, in bytes.
        max_len: usize,
    },
}

/// One query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The key in query JSON (camelCase, as Grafana's editors write it).
    pub name: &'static str,
    /// The key in channel paths (short; the path holds at most 155 bytes).
    pub path_key: &'static str,
    /// Type, default and allowed values.
    pub kind: Kind,
    /// The unit, when the value has one (`ms`, `rows`).
    pub unit: Option<&'static str>,
    /// What it means, in one line.
    pub doc: &'static str,
}

/// A parameter's validated value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// [`Kind::Integer`].
    Integer(u64),
    /// [`Kind::Number`].
    Number(f64),
    /// [`Kind::Boolean`].
    Boolean(bool),
    /// [`Kind::Choice`].
    Choice(&'static str),
    /// [`Kind::Text`].
    Text(String),
    /// [`Kind::Names`].
    Names(Vec<String>),
}

impl Param {
    /// The parameter's value in `obj` (a query's JSON object), validated; `None` when it is
    /// absent and has no default. `null` and (for text and choices) `""` count as absent.
    ///
    /// # Errors
    /// A [`QueryError`] naming the parameter, what is wrong and what is allowed.
    pub fn read(&self, obj: &Map<String, Json>) -> Result<Option<Value>, QueryError> {
        let v = obj.get(self.name).filter(|v| !v.is_null());
        let value = match (self.kind, v) {
            (Kind::Integer { default, .. }, None) => default.map(Value::Integer),
            (Kind::Integer { min, max, .. }, Some(v)) => {
                let range = format!("allowed: an integer in {min} ..= {max}");
                match v {
                    Json::Number(n) => match n.as_u64() {
                        Some(x) => Some(Value::Integer(x)),
                        None => return Err(self.error(format!("{n} is out of range; {range}"))),
                    },
                    other => {
                        return Err(self.error(format!(
                            "expected an integer, got {}; {range}",
                            kind_of(other)
                        )))
                    }
                }
            }
            (Kind::Number { default, .. }, None) => Some(Value::Number(default)),
            (Kind::Number { .. }, Some(Json::Number(n))) => {
                Some(Value::Number(n.as_f64().unwrap_or(f64::INFINITY)))
            }
            (Kind::Number { .. }, Some(other)) => {
                return Err(self.error(format!("expected a number, got {}", kind_of(other))))
            }
            (Kind::Boolean { default }, None) => Some(Value::Boolean(default)),
            (Kind::Boolean { .. }, Some(Json::Bool(b))) => Some(Value::Boolean(*b)),
            (Kind::Boolean { .. }, Some(other)) => {
                return Err(self.error(format!("expected true or false, got {}", kind_of(other))))
            }
            (Kind::Choice { default, .. }, None) => Some(Value::Choice(default)),
            (Kind::Choice { values, default }, Some(Json::String(s))) if s.is_empty() => {
                let _ = values;
                Some(Value::Choice(default))
            }
            (Kind::Choice { values, .. }, Some(Json::String(s))) => {
                match values.iter().find(|a| **a == s.as_str()) {
                    Some(found) => Some(Value::Choice(found)),
                    None => {
                        return Err(self.error(format!(
                            "unknown value {s:?}; allowed: {}",
                            values.join(", ")
                        )))
                    }
                }
            }
            (Kind::Choice { values, .. }, Some(other)) => {
                return Err(self.error(format!(
                    "expected a string (one of: {}), got {}",
                    values.join(", "),
                    kind_of(other)
                )))
            }
            (Kind::Text { .. }, None) => None,
            (Kind::Text { .. }, Some(Json::String(s))) if s.is_empty() => None,
            (Kind::Text { .. }, Some(Json::String(s))) => Some(Value::Text(s.clone())),
            (Kind::Text { what, .. }, Some(other)) => {
                return Err(self.error(format!(
                    "expected a string ({what}), got {}",
                    kind_of(other)
                )))
            }
            (Kind::Names { .. }, None) => None,
            (Kind::Names { max_items, .. }, Some(Json::Array(items))) => {
                if items.len() > max_items {
                    return Err(self.error(format!(
                        "{} names; at most {max_items} are allowed",
                        items.len()
                    )));
                }
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) if !s.is_empty() => names.push(s.clone()),
                        other => {
                            return Err(self.error(format!(
                                "expected non-empty strings, got {}",
                                kind_of(other)
                            )))
                        }
                    }
                }
                // No names is no choice (every field), as when absent: one stream, one spec.
                (!names.is_empty()).then_some(Value::Names(names))
            }
            (Kind::Names { .. }, Some(other)) => {
                return Err(self.error(format!(
                    "expected an array of field names, got {}",
                    kind_of(other)
                )))
            }
        };
        match value {
            Some(v) => self.check(v).map(Some),
            None => match self.kind {
                Kind::Text {
                    required: Some(why),
                    ..
                } => Err(self.error(why)),
                _ => Ok(None),
            },
        }
    }

    /// Why `text` is no value of this text parameter (for settings that list values of it,
    /// such as the topic filters to record), or `Ok`.
    ///
    /// # Errors
    /// The problem, in words.
    pub fn check_text(&self, text: &str) -> Result<(), String> {
        self.check(Value::Text(text.to_owned()))
            .map(drop)
            .map_err(|e| e.problem)
    }

    /// `value` checked against the parameter's rules (and made canonical: names sorted,
    /// repeats dropped; an empty list is absent).
    ///
    /// # Errors
    /// A [`QueryError`] naming the parameter.
    pub fn check(&self, value: Value) -> Result<Value, QueryError> {
        match (self.kind, value) {
            (Kind::Integer { min, max, .. }, Value::Integer(x)) => {
                if (min..=max).contains(&x) {
                    Ok(Value::Integer(x))
                } else {
                    Err(self.error(format!(
                        "{x} is out of range; allowed: an integer in {min} ..= {max}"
                    )))
                }
            }
            (Kind::Number { min, max, .. }, Value::Number(x)) => {
                let abs = max.max(-min);
                if !x.is_finite() || x.abs() > abs {
                    // Large bounds read better as powers of ten: -1e15 ..= 1e15.
                    let bound = if abs >= 1e6 {
                        format!("{abs:e}")
                    } else {
                        Short(abs).to_string()
                    };
                    return Err(self.error(format!(
                        "{x} is out of range; allowed: -{bound} ..= {bound}"
                    )));
                }
                if x < min {
                    return Err(self.error(format!("must be at least {min}, got {x}")));
                }
                if x > max {
                    return Err(self.error(format!("must be at most {max}, got {x}")));
                }
                Ok(Value::Number(if x == 0.0 { 0.0 } else { x })) // -0 is 0
            }
            (Kind::Boolean { .. }, v @ Value::Boolean(_)) => Ok(v),
            (Kind::Choice { values, .. }, Value::Choice(c)) if values.contains(&c) => {
                Ok(Value::Choice(c))
            }
            (
                Kind::Text {
                    max_len,
                    check,
                    required,
                    ..
                },
                Value::Text(s),
            ) => {
                if s.is_empty() {
                    // A query's empty string is absent; a path's must not name a value.
                    return Err(self.error(required.unwrap_or("may not be empty")));
                }
                if s.len() > max_len {
                    return Err(
                        self.error(format!("{} bytes; at most {max_len} are allowed", s.len()))
                    );
                }
                if s.chars().any(char::is_control) {
                    return Err(self.error(
                        "control characters (line breaks, tabs, NUL, ...) are not allowed",
                    ));
                }
                if let Some(check) = check {
                    check(&s).map_err(|problem| self.error(problem))?;
                }
                Ok(Value::Text(s))
            }
            (Kind::Names { max_items, max_len }, Value::Names(mut names)) => {
                if names.len() > max_items {
                    return Err(self.error(format!(
                        "{} names; at most {max_items} are allowed",
                        names.len()
                    )));
                }
                for name in &names {
                    if name.len() > max_len {
                        return Err(self.error(format!(
                            "a name of {} bytes; at most {max_len} are allowed",
                            name.len()
                        )));
                    }
                    if name.chars().any(char::is_control) {
                        return Err(self.error("control characters are not allowed in names"));
                    }
                }
                names.sort();
                names.dedup();
                Ok(Value::Names(names))
            }
            (_, other) => Err(self.error(format!("{other:?} is not a value of this parameter"))),
        }
    }

    /// A [`QueryError`] about this parameter.
    pub fn error(&self, problem: impl Into<String>) -> QueryError {
        QueryError {
            field: self.name.to_owned(),
            problem: problem.into(),
        }
    }

    /// Writes `value` as it appears in a channel path segment (numbers in their shortest
    /// exact form; booleans `0`/`1`; text escaped, see [`crate::channel`]).
    pub fn write_path_value(&self, value: &Value, out: &mut String) {
        match value {
            Value::Integer(x) => {
                let _ = write!(out, "{x}");
            }
            Value::Number(x) => {
                let _ = write!(out, "{}", Short(*x));
            }
            Value::Boolean(b) => out.push(if *b { '1' } else { '0' }),
            Value::Choice(c) => out.push_str(c),
            Value::Text(s) => crate::channel::escape_segment(out, s),
            Value::Names(_) => {} // written one segment per name by the caller
        }
    }

    /// The value of a channel path segment's `text` for this parameter, unchecked (call
    /// [`Param::check`]); `None` when it is not a value of this kind at all.
    pub fn read_path_value(&self, text: &str) -> Option<Value> {
        match self.kind {
            Kind::Integer { .. } => {
                if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                text.parse().ok().map(Value::Integer)
            }
            Kind::Number { .. } => {
                if text.is_empty() || text.len() > 32 {
                    return None;
                }
                text.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(Value::Number)
            }
            Kind::Boolean { .. } => match text {
                "1" => Some(Value::Boolean(true)),
                "0" => Some(Value::Boolean(false)),
                _ => None,
            },
            Kind::Choice { values, .. } => values
                .iter()
                .find(|v| **v == text)
                .map(|v| Value::Choice(v)),
            Kind::Text { .. } => crate::channel::unescape(text).map(Value::Text),
            Kind::Names { .. } => crate::channel::unescape(text).map(|n| Value::Names(vec![n])),
        }
    }

    /// The parameter as a JSON Schema (2020-12) property: `type`, `default`,
    /// `minimum`/`maximum`, `enum` or `maxLength`, and `description`.
    pub fn schema(&self) -> Json {
        let mut s = match self.kind {
            Kind::Integer { min, max, default } => {
                let mut s = json!({"type": "integer", "minimum": min, "maximum": max});
                if let Some(d) = default {
                    s["default"] = json!(d);
                }
                s
            }
            Kind::Number { min, max, default } => {
                json!({"type": "number", "minimum": min, "maximum": max, "default": default})
            }
            Kind::Boolean { default } => json!({"type": "boolean", "default": default}),
            Kind::Choice { values, default } => {
                json!({"type": "string", "enum": values, "default": default})
            }
            Kind::Text { max_len, .. } => json!({"type": "string", "maxLength": max_len}),
            Kind::Names { max_items, max_len } => json!({
                "type": "array",
                "maxItems": max_items,
                "uniqueItems": true,
                "items": {"type": "string", "minLength": 1, "maxLength": max_len}
            }),
        };
        let mut description = self.doc.to_owned();
        if let Some(unit) = self.unit {
            let _ = write!(description, " ({unit})");
        }
        s["description"] = json!(description);
        if let Some(unit) = self.unit {
            s["x-unit"] = json!(unit);
        }
        s
    }

    /// The default, as the docs show it.
    pub fn default_text(&self) -> String {
        match self.kind {
            Kind::Integer {
                default: Some(d), ..
            } => d.to_string(),
            Kind::Integer { default: None, .. } => "none".into(),
            Kind::Number { default, .. } => Short(default).to_string(),
            Kind::Boolean { default } => default.to_string(),
            Kind::Choice { default, .. } => format!("{default:?}"),
            Kind::Text {
                required: Some(_), ..
            } => "required".into(),
            Kind::Text { .. } | Kind::Names { .. } => "none".into(),
        }
    }
}

/// Validated values of a query's parameters, in declaration order; absent optional ones
/// are left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values(Vec<(&'static str, Value)>);

impl Values {
    /// Reads every parameter of `params` from `obj`.
    ///
    /// # Errors
    /// The first parameter's [`QueryError`].
    pub fn read<'p>(
        params: impl IntoIterator<Item = &'p Param>,
        obj: &Map<String, Json>,
    ) -> Result<Self, QueryError> {
        let mut out = Vec::new();
        for p in params {
            if let Some(v) = p.read(obj)? {
                out.push((p.name, v));
            }
        }
        Ok(Self(out))
    }

    /// The defaults of `params` (those that have one).
    pub fn defaults<'p>(params: impl IntoIterator<Item = &'p Param>) -> Self {
        let empty = Map::new();
        Self(
            params
                .into_iter()
                .filter_map(|p| p.read(&empty).ok().flatten().map(|v| (p.name, v)))
                .collect(),
        )
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(n, v)| (*n, v))
    }

    /// Sets (or replaces) a value.
    pub fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// `name` as an integer.
    pub fn integer(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Integer(x) => Some(*x),
            _ => None,
        }
    }

    /// `name` as a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// `name` as a boolean.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// `name` as a choice.
    pub fn choice(&self, name: &str) -> Option<&'static str> {
        match self.get(name)? {
            Value::Choice(c) => Some(c),
            _ => None,
        }
    }

    /// `name` as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// `name` as a list of names.
    pub fn names(&self, name: &str) -> Option<&[String]> {
        match self.get(name)? {
            Value::Names(n) => Some(n),
            _ => None,
        }
    }
}

/// A JSON value's kind, for errors.
pub(crate) fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A number in its shortest exact form, integral values without a fraction, -0 as 0.
pub(crate) struct Short(pub(crate) f64);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = if self.0 == 0.0 { 0.0 } else { self.0 };
        if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
            write!(f, "{}", x as i64)
        } else {
            f.write_str(ryu::Buffer::new().format_finite(x))
        }
    }
}
