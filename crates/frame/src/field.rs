//! Field and frame metadata: names, labels, display config and frame meta.

use std::collections::BTreeMap;

use crate::FieldType;

/// Labels of a field (Grafana's `labels`), kept sorted so equal label sets compare and encode
/// the same way.
pub type Labels = BTreeMap<String, String>;

/// The subset of Grafana's field config a streaming source sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldConfig {
    /// `displayName`: overrides the name shown in legends and tables.
    pub display_name: Option<String>,
    /// `displayNameFromDS`: a display name chosen by the data source.
    pub display_name_from_ds: Option<String>,
    /// `unit`: a Grafana unit id such as `celsius`, `percent` or `ms`.
    pub unit: Option<String>,
    /// `decimals`: how many decimals to show.
    pub decimals: Option<u32>,
    /// `min`: the lower end of the field's range.
    pub min: Option<f64>,
    /// `max`: the upper end of the field's range.
    pub max: Option<f64>,
    /// `description`: shown as a tooltip.
    pub description: Option<String>,
}

impl FieldConfig {
    /// Whether no option is set (Grafana's `{}`).
    pub fn is_empty(&self) -> bool {
        *self == FieldConfig::default()
    }
}

/// A field's description: name, type, labels and config. Its values live in the
/// [`RingFrame`](crate::RingFrame).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    name: String,
    field_type: FieldType,
    /// The field's labels.
    pub labels: Labels,
    /// The field's display config.
    pub config: FieldConfig,
}

impl Field {
    /// A field with no labels and an empty config.
    pub fn new(name: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            name: name.into(),
            field_type,
            labels: Labels::new(),
            config: FieldConfig::default(),
        }
    }

    /// Sets the labels.
    #[must_use]
    pub fn with_labels<K: Into<String>, V: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.labels = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Sets the config.
    #[must_use]
    pub fn with_config(mut self, config: FieldConfig) -> Self {
        self.config = config;
        self
    }

    /// The field's name (rows pushed by name are matched against it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's type; fixed for the field's life, since the ring's storage is typed.
    pub fn field_type(&self) -> FieldType {
        self.field_type
    }
}

/// How severe a [`Notice`] is (Grafana's `severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Informational.
    Info,
    /// Something the user should know, such as a gap in the data.
    Warning,
    /// A failure.
    Error,
}

impl Severity {
    /// Grafana's name: `info`, `warning` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A message shown on the panel (Grafana's frame `meta.notices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How severe it is.
    pub severity: Severity,
    /// What to tell the user.
    pub text: String,
}

/// The subset of Grafana's frame `meta` a streaming plugin sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameMeta {
    /// `channel`: the Grafana Live channel (`ds/<uid>/<path>`) that streams into this frame.
    pub channel: Option<String>,
    /// `executedQueryString`: shown in the query inspector.
    pub executed_query_string: Option<String>,
    /// `preferredVisualisationType`, e.g. `graph` or `table`.
    pub preferred_visualisation_type: Option<String>,
    /// `notices`: messages shown on the panel.
    pub notices: Vec<Notice>,
}

impl FrameMeta {
    /// Whether nothing is set (no `meta` on the wire).
    pub fn is_empty(&self) -> bool {
        *self == FrameMeta::default()
    }
}
