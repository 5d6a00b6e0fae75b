//! Sources: where a stream's rows come from, and the one contract every source implements.
//!
//! # Map
//! - [`SourceKind`]: one kind of source, as the plugin sees it: its query parameters
//!   ([`Param`]s, declared once), its channel-path [`Layout`], its settings section, how it
//!   opens a stream and how it checks its connection. [`SOURCES`] is the registry.
//! - [`Source`]: one stream's producer (its fields, its history, its `run`).
//! - [`RowSink`] and [`Batch`]: what a producer may do to its channel (push rows, add
//!   fields, set notices, say what it holds) — never the ring itself.
//! - The sources: [`signal`] (synthetic signals, with history), [`mqtt`] (an MQTT topic filter
//!   on the data source's broker), [`websocket`] (a feed on the data source's WebSocket
//!   server), [`nats`] (NATS subjects, JetStream streams with history), [`redis`] (Redis
//!   Streams with history, Pub/Sub channels). The message feeds share [`payload`] (payloads
//!   to rows) and `feed` (connections shared through a registry, reconnects, notices, TLS).
//!
//! Architecture invariant: a source module depends only on this module's API, the frame
//! crate and its own settings section; the hub and the services know sources only through
//! [`SOURCES`].
//!
//! # Adding a source
//! 1. `cargo xtask new-source NAME` writes `src/source/NAME.rs` (the example below, named
//!    NAME: a [`SourceKind`] with one parameter, the [`Source`] it opens, and its test) and
//!    adds `pub mod NAME;` and its line in [`SOURCES`].
//! 2. Grow it: its parameters ([`Param`]), its channel-path [`Layout`], its settings section
//!    ([`SectionInfo`]: its keys, the one that names its server, its allow list, and a type
//!    of its own that [`Section::parse`] fills and [`SharedContext::section`] reads back,
//!    naming the missing setting when the data source has none), `open` (a shared connection through [`SharedContext::connection`]),
//!    `check`, `topics`. Inside the crate, `use super::prelude::*;` imports the source API
//!    and the message-feed toolkit at once.
//! 3. Run `cargo xtask schema` (the exported query and settings schemas gain the source;
//!    CI fails while they are stale) and `cargo test`.
//!
//! The example (this doctest is the template `cargo xtask new-source` copies, so it always
//! compiles): a source whose rows hold one number, once per tick.
//!
//! ```
//! // new-source: begin
//! //! The `heartbeat` source: one row per tick holding one number.
//!
//! use std::time::Duration;
//!
//! use ringstream_frame::{Field, FieldType, Value};
//!
//! use ringstream_plugin::param::{Kind, Param};
//! use ringstream_plugin::query::StreamSpec;
//! use ringstream_plugin::source::{
//!     DynSource, Layout, OpenContext, RowSink, Source, SourceInfo, SourceKind, Variants,
//! };
//! use ringstream_plugin::PluginError;
//!
//! /// The source, as the registry holds it.
//! pub static HEARTBEAT: Heartbeat = Heartbeat;
//!
//! /// The source's kind.
//! #[derive(Debug)]
//! pub struct Heartbeat;
//!
//! /// `value`: what every row holds.
//! pub const VALUE: Param = Param {
//!     name: "value",
//!     path_key: "value",
//!     kind: Kind::Number { min: -1e15, max: 1e15, default: 1.0 },
//!     unit: None,
//!     doc: "the number every row holds",
//! };
//!
//! static INFO: SourceInfo = SourceInfo {
//!     name: "heartbeat",
//!     display_name: "Heartbeat",
//!     doc: "one row per tick holding one number",
//!     params: &[VALUE],
//!     variants: Variants::None,
//!     layout: Layout {
//!         segment: Some("heartbeat"),
//!         order: &["tickMs", "capacity", "backfill", "value"],
//!         tail: None,
//!     },
//!     section: None,
//! };
//!
//! impl SourceKind for Heartbeat {
//!     fn info(&self) -> &'static SourceInfo {
//!         &INFO
//!     }
//!
//!     fn rows_per_second(&self, spec: &StreamSpec) -> u64 {
//!         1000_u64.div_ceil(spec.tick_ms.max(1))
//!     }
//!
//!     fn open(
//!         &self,
//!         spec: &StreamSpec,
//!         _ctx: &OpenContext<'_>,
//!     ) -> Result<Box<dyn DynSource>, PluginError> {
//!         Ok(Box::new(HeartbeatSource {
//!             value: spec.values.number(VALUE.name).unwrap_or(1.0),
//!             tick: Duration::from_millis(spec.tick_ms),
//!         }))
//!     }
//! }
//!
//! /// One stream's producer.
//! struct HeartbeatSource {
//!     value: f64,
//!     tick: Duration,
//! }
//!
//! impl Source for HeartbeatSource {
//!     fn fields(&self) -> Vec<Field> {
//!         vec![Field::new("time", FieldType::Time), Field::new("value", FieldType::Number)]
//!     }
//!
//!     async fn run(self, sink: RowSink) -> Result<(), PluginError> {
//!         let mut tick = tokio::time::interval(self.tick);
//!         loop {
//!             tick.tick().await;
//!             let now = sink.clock().now_ms().saturating_mul(1_000_000);
//!             sink.push_row(&[Value::Time(now), Value::Number(self.value)])?;
//!         }
//!     }
//! }
//!
//! // new-source: tests
//! fn the_parameter_reads_from_a_query_and_names_itself_when_wrong() {
//!     let obj = serde_json::json!({"value": 2.5});
//!     let values = ringstream_plugin::param::Values::read(
//!         HEARTBEAT.params(),
//!         obj.as_object().unwrap(),
//!     )
//!     .unwrap();
//!     assert_eq!(values.number("value"), Some(2.5));
//!     let obj = serde_json::json!({"value": "high"});
//!     let err = ringstream_plugin::param::Values::read(HEARTBEAT.params(), obj.as_object().unwrap())
//!         .unwrap_err();
//!     assert_eq!(err.field, "value");
//! }
//! // new-source: end
//! # the_parameter_reads_from_a_query_and_names_itself_when_wrong();
//! ```

pub(crate) mod feed;
pub mod mqtt;
pub mod nats;
pub mod payload;
mod prelude;
pub mod redis;
pub mod signal;
pub mod websocket;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringstream_frame::{Field, Notice, RingFrame, Value};

pub use feed::FeedMetrics;
pub use mqtt::topic_matches;

use crate::budget::{Budget, Requester};
use crate::clock::Clock;
use crate::hub::lock;
use crate::limits::Limits;
use crate::param::Param;
use crate::query::StreamSpec;
use crate::settings::{Section, Settings};
use crate::PluginError;

/// Every source the plugin knows, in the order the docs and the editor list them. The one
/// place a new source is added.
pub static SOURCES: &[&dyn SourceKind] = &[
    &signal::SIGNAL,
    &mqtt::MQTT,
    &websocket::WEBSOCKET,
    &nats::NATS,
    &redis::REDIS,
];

/// A recorded stream's batching interval (see [`SourceKind::recorded`]): a query's default,
/// so that a panel with default options shares the recorded channel.
pub const RECORD_TICK_MS: u64 = crate::query::DEFAULT_TICK_MS;
/// A recorded stream's rows kept: a query's default capacity.
pub const RECORD_CAPACITY: usize = crate::query::DEFAULT_CAPACITY as usize;

/// The source called `name` (the `source` of a query).
pub fn lookup(name: &str) -> Option<&'static dyn SourceKind> {
    SOURCES.iter().copied().find(|s| s.name() == name)
}

/// The names of every source, in registry order.
pub fn names() -> Vec<&'static str> {
    SOURCES.iter().map(|s| s.name()).collect()
}

/// A variant of a source (the signal source's kinds), with its own parameters.
#[derive(Debug)]
pub struct Variant {
    /// The name in queries (the variant parameter's value) and channel paths.
    pub name: &'static str,
    /// What it is, in one line.
    pub doc: &'static str,
    /// Its parameters, in channel-path order.
    pub params: &'static [Param],
    /// Rules between its parameters.
    pub rules: &'static [Rule],
}

/// A rule between two number parameters: `param` must be greater than `greater_than`
/// (`max` > `min`). Checked after each parameter was on its own, exported in the schema
/// (`x-greaterThan`).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The parameter the error names.
    pub param: &'static str,
    /// The one it must exceed.
    pub greater_than: &'static str,
}

/// How a source's streams are written as channel paths: `v1/<segment>/…`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The second segment: the source's path name (`mqtt`, `ws`), or `None` when it is the
    /// variant's name (`v1/sine/…`).
    pub segment: Option<&'static str>,
    /// The query keys in path order, the common ones (`tickMs`, `capacity`, `backfill`)
    /// included; [`VARIANT_PARAMS`] stands for the variant's parameters.
    pub order: &'static [&'static str],
    /// A text parameter written last, after `/<marker>/`, keeping its `/`s.
    pub tail: Option<Tail>,
}

impl Layout {
    /// A message feed's layout: `v1/<segment>/tick=…/cap=…/backfill=…[/time=…][/field=…]…
    /// /<marker>/<the text parameter>`.
    pub const fn feed(
        segment: &'static str,
        marker: &'static str,
        strip_prefix: Option<&'static str>,
    ) -> Self {
        Self {
            segment: Some(segment),
            order: &["tickMs", "capacity", "backfill", "timePath", "fields"],
            tail: Some(Tail {
                marker,
                param: marker,
                strip_prefix,
            }),
        }
    }
}

impl Variant {
    /// The one variant of a source without variants ([`Variants::None`]): no name, no
    /// parameters, no rules.
    pub const NONE: Self = Self::new("", "", &[]);

    /// A variant with parameters `params` and no rules between them.
    pub const fn new(name: &'static str, doc: &'static str, params: &'static [Param]) -> Self {
        Self {
            name,
            doc,
            params,
            rules: &[],
        }
    }
}

/// In a [`Layout`]'s order: the variant's parameters, in their declaration order.
pub const VARIANT_PARAMS: &str = "*";

/// The trailing text of a channel path.
#[derive(Debug, Clone, Copy)]
pub struct Tail {
    /// The segment before it (`topic`, `path`).
    pub marker: &'static str,
    /// The parameter it holds.
    pub param: &'static str,
    /// A prefix every value has, left out of the path (`/` of a WebSocket path).
    pub strip_prefix: Option<&'static str>,
}

/// What a source needs to open a stream: the request's data source settings, the shared
/// connection registries, the clock, the limits and the budget.
#[derive(Debug)]
pub struct OpenContext<'a> {
    /// The data source instance's settings (`None` for sources that read none).
    pub settings: Option<&'a Arc<Settings>>,
    /// Connections shared between channels, one registry per source.
    pub connections: &'a Connections,
    /// Where row times come from.
    pub clock: Arc<dyn Clock>,
    /// The process's limits.
    pub limits: &'a Limits,
    /// The budget, for what a source charges beyond its channel (connections).
    pub budget: &'a Budget,
    /// Who asks.
    pub who: &'a Requester,
    /// The feed counters CollectMetrics reports.
    pub metrics: &'a Arc<FeedMetrics>,
}

/// What the query editor asks a source to discover.
#[derive(Debug)]
pub struct TopicsRequest<'a> {
    /// The data source's settings.
    pub settings: &'a Settings,
    /// The shared connections (what they have seen counts).
    pub connections: &'a Connections,
    /// What the user typed: a filter in the source's syntax, validated like a query's, or
    /// empty for everything.
    pub filter: &'a str,
    /// The most topics wanted.
    pub limit: usize,
    /// How long the source may look.
    pub timeout: Duration,
}

/// What a source discovered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topics {
    /// The topics, sorted, without repeats.
    pub topics: Vec<String>,
    /// Whether there were more than the limit (or the time ran out first).
    pub truncated: bool,
}

/// What QueryData asks of a source that keeps history itself (an engine such as NATS
/// JetStream): the rows of a time range, read from the engine rather than from the ring.
#[derive(Debug)]
pub struct RangeRequest<'a> {
    /// The stream.
    pub spec: &'a StreamSpec,
    /// The data source's settings.
    pub settings: &'a Arc<Settings>,
    /// The shared connections (a range read uses the stream's connection).
    pub connections: &'a Connections,
    /// The process's limits.
    pub limits: &'a Limits,
    /// The feed counters.
    pub metrics: &'a Arc<FeedMetrics>,
    /// The range, epoch milliseconds, both ends included.
    pub from_ms: i64,
    /// The range's end.
    pub to_ms: i64,
    /// Read only rows at engine positions at or after this, whatever their time (a cursor
    /// path's RunStream catching up on rows its channel does not hold); `None`: from the
    /// range's start.
    pub after: Option<Position>,
    /// Read only rows at engine positions below this (the rest reach the panel through the
    /// channel: see [`Channel::engine_split`](crate::hub::Channel::engine_split)); `None`:
    /// the whole range.
    pub before: Option<Position>,
    /// The most rows returned: the newest of the range.
    pub max_rows: usize,
    /// The most bytes the rows may take.
    pub max_bytes: usize,
    /// When the read must stop, with what it has.
    pub deadline: tokio::time::Instant,
}

/// A future a source returns from an object-safe method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`SourceKind::check`]'s answer: `None` when the source has nothing to check, else the
/// check, which ends in a health message: `Ok` healthy, `Err` what is wrong.
pub type HealthCheck<'a> = Option<BoxFuture<'a, Result<String, String>>>;

/// [`SourceKind::topics`]'s answer: `None` when the source has nothing to discover.
pub type Discovery<'a> = Option<BoxFuture<'a, Result<Topics, PluginError>>>;

/// [`SourceKind::range`]'s answer: `None` when no engine keeps the stream's history.
pub type RangeRead<'a> = Option<BoxFuture<'a, Result<RingFrame, PluginError>>>;

/// Runs `f` on the settings section of type `T`, when the data source has one: what
/// [`SourceKind::check`] and [`SourceKind::topics`] of a source with a section do.
pub fn with_section<'a, T: Section, F>(
    settings: &'a Settings,
    f: impl FnOnce(&'a T) -> F,
) -> Option<BoxFuture<'a, F::Output>>
where
    F: Future + Send + 'a,
{
    let section = settings.section::<T>()?;
    Some(Box::pin(f(section)))
}

/// What a source is, declared once: the registry, the query layer, channel paths, the
/// schema and the docs read it.
#[derive(Debug)]
pub struct SourceInfo {
    /// The `source` value of its queries.
    pub name: &'static str,
    /// How people call it in messages ("MQTT").
    pub display_name: &'static str,
    /// What it is, in one line.
    pub doc: &'static str,
    /// Its parameters (beyond the common ones and its variants' own).
    pub params: &'static [Param],
    /// Its variants, if it has any.
    pub variants: Variants,
    /// How its channel paths read.
    pub layout: Layout,
    /// Its section of the data source settings, when its streams read a connection of the
    /// data source; `None`: they read nothing of the data source's, and every data source
    /// shares them (signals).
    pub section: Option<SectionInfo>,
}

/// A source's variants: the kinds of the signal source, each with parameters of its own.
#[derive(Debug, Clone, Copy)]
pub enum Variants {
    /// None: every parameter is the source's.
    None,
    /// Several, picked by a parameter (`signal`); the first is the default.
    PickedBy(&'static Param, &'static [Variant]),
}

/// A source's section of the data source settings: what the data source configures of it.
#[derive(Debug, Clone, Copy)]
pub struct SectionInfo {
    /// The setting without which its streams cannot connect (`mqttUrl`), named in the error
    /// a query gets when it is missing.
    pub required: &'static str,
    /// Its keys (the settings schema and the config editor come from them).
    pub keys: &'static [crate::settings::Setting],
    /// Parses them: `parser::<MySettings>`; the source reads the result back with
    /// [`SharedContext::section`] or [`Settings::section`].
    pub parse: SettingsParser,
    /// What the data source's admin may restrict its queries to ([`crate::allow`]).
    pub allow: crate::allow::Allow,
}

/// One kind of source: everything the plugin knows about it, in one module: what it is
/// ([`info`](Self::info)) and what it does.
///
/// Lifecycle: the query layer reads a query's parameters by [`SourceInfo::params`] and
/// [`SourceInfo::variants`] and asks [`validate`](Self::validate) for rules between them;
/// the channel layer writes and parses paths by [`SourceInfo::layout`]; the hub calls
/// [`open`](Self::open) once per new channel and runs the [`Source`] it returns; CheckHealth
/// calls [`check`](Self::check); the editor's discovery calls [`topics`](Self::topics).
pub trait SourceKind: Send + Sync + 'static {
    /// What the source is.
    fn info(&self) -> &'static SourceInfo;

    /// [`SourceInfo::name`].
    fn name(&self) -> &'static str {
        self.info().name
    }

    /// [`SourceInfo::display_name`].
    fn display_name(&self) -> &'static str {
        self.info().display_name
    }

    /// [`SourceInfo::doc`].
    fn doc(&self) -> &'static str {
        self.info().doc
    }

    /// [`SourceInfo::params`].
    fn params(&self) -> &'static [Param] {
        self.info().params
    }

    /// Its variants ([`SourceInfo::variants`]), the default first; a source without
    /// variants has one, [`Variant::NONE`].
    fn variants(&self) -> &'static [Variant] {
        match &self.info().variants {
            Variants::None => std::slice::from_ref(&Variant::NONE),
            Variants::PickedBy(_, variants) => variants,
        }
    }

    /// The parameter that picks the variant (`signal`), when there are several.
    fn variant_param(&self) -> Option<&'static Param> {
        match self.info().variants {
            Variants::None => None,
            Variants::PickedBy(param, _) => Some(param),
        }
    }

    /// [`SourceInfo::layout`].
    fn layout(&self) -> Layout {
        self.info().layout
    }

    /// Its keys of the data source settings ([`SectionInfo::keys`]).
    fn settings(&self) -> &'static [crate::settings::Setting] {
        self.info().section.map_or(&[], |s| s.keys)
    }

    /// What the data source's admin may restrict its queries to ([`SectionInfo::allow`]).
    fn allow(&self) -> Option<&'static crate::allow::Allow> {
        self.info().section.as_ref().map(|s| &s.allow)
    }

    /// Whether its streams read a connection of the data source: they then belong to one
    /// data source instance, and need its settings.
    fn needs_connection(&self) -> bool {
        self.info().section.is_some()
    }

    /// [`SectionInfo::required`], or `""`.
    fn required_setting(&self) -> &'static str {
        self.info().section.map_or("", |s| s.required)
    }

    /// Rules between parameters beyond the variants' [`Rule`]s, after each parameter was
    /// checked on its own.
    ///
    /// # Errors
    /// A [`QueryError`](crate::query::QueryError) naming the parameter to change.
    fn validate(&self, spec: &StreamSpec) -> Result<(), crate::query::QueryError> {
        let _ = spec;
        Ok(())
    }

    /// Parses its section of a data source's settings by [`SectionInfo::parse`]:
    /// `None` when the data source does not configure this source (its streams then get
    /// [`PluginError::NotConfigured`]).
    ///
    /// # Errors
    /// A [`SettingsError`](crate::settings::SettingsError) naming the bad setting (never
    /// quoting a secret).
    fn parse_settings(
        &self,
        data: &crate::settings::SettingsData<'_>,
    ) -> Result<Option<Arc<dyn Section>>, crate::settings::SettingsError> {
        self.info().section.map_or(Ok(None), |s| (s.parse)(data))
    }

    /// Signal rows per second a stream of `spec` produces (charged to the budget: CPU);
    /// 0 for streams whose rate a server decides.
    fn rows_per_second(&self, spec: &StreamSpec) -> u64 {
        let _ = spec;
        0
    }

    /// The producer of a new channel for `spec`.
    ///
    /// # Errors
    /// When the data source lacks the connection, the budget refuses a new connection, or
    /// the server refused what the query reads.
    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError>;

    /// Discovery for the query editor: the topics (subjects, keys, …) of the data source
    /// that `req.filter` matches, within `req.limit` and `req.timeout`. `None`: this source
    /// has nothing to discover.
    fn topics<'a>(&'a self, req: TopicsRequest<'a>) -> Discovery<'a> {
        let _ = req;
        None
    }

    /// The streams a data source asks to record from when the plugin first sees its
    /// settings, so that a panel opened later shows history (`mqttRecord`); the hub keeps
    /// their channels open while these settings are current. Default: none.
    fn recorded(&self, settings: &Settings) -> Vec<StreamSpec> {
        let _ = settings;
        Vec::new()
    }

    /// Whether an engine keeps the history of `spec`'s stream (a JetStream stream): QueryData
    /// then asks [`range`](Self::range) for its rows, up to where the channel takes over.
    fn keeps_history(&self, spec: &StreamSpec) -> bool {
        let _ = spec;
        false
    }

    /// The rows of a time range from the engine that keeps this source's history, for
    /// QueryData (alert rules included: no RunStream needs to have run). `None`: the source
    /// keeps no history of its own for `req.spec` (the channel's ring answers instead).
    ///
    /// The frame holds the newest `req.max_rows` rows of the range, oldest first, with the
    /// fields of a live channel of the same spec; notices say what was left out.
    ///
    /// # Errors
    /// When the engine cannot be read (the stream does not exist, the connection is down),
    /// or the rows would take more than `req.max_bytes`.
    fn range<'a>(&'a self, req: RangeRequest<'a>) -> RangeRead<'a> {
        let _ = req;
        None
    }

    /// CheckHealth: `None` when the data source configures no connection of this source,
    /// else what a real connection with its settings does (the caller takes every secret of
    /// the settings out of the outcome).
    fn check<'a>(&'a self, settings: &'a Settings, timeout: Duration) -> HealthCheck<'a> {
        let _ = (settings, timeout);
        None
    }
}

impl OpenContext<'_> {
    /// The data source's settings, which `source`'s streams need.
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] naming the setting `source` needs.
    pub fn settings_for(&self, source: &dyn SourceKind) -> Result<&Arc<Settings>, PluginError> {
        self.settings.ok_or_else(|| not_configured(source))
    }

    /// What `source` reaches its data source's shared connection with.
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] naming the setting `source` needs.
    pub fn shared<'s>(
        &'s self,
        source: &'s dyn SourceKind,
    ) -> Result<SharedContext<'s>, PluginError> {
        Ok(SharedContext {
            source,
            settings: self.settings_for(source)?,
            connections: self.connections,
            clock: Arc::clone(&self.clock),
            limits: self.limits,
            metrics: self.metrics,
        })
    }
}

impl<'a> TopicsRequest<'a> {
    /// The filter the user typed, or the pattern of everything when empty, checked as the
    /// query parameter the allow list `allow` guards first would be (`topic`, `subject`,
    /// `key`).
    ///
    /// # Errors
    /// [`PluginError::Query`] naming that parameter.
    pub fn filter_for(&self, allow: &crate::allow::Allow) -> Result<&'a str, PluginError> {
        let filter = if self.filter.is_empty() {
            allow.syntax.everything()
        } else {
            self.filter
        };
        if let Some(param) = allow.params.first() {
            param
                .check(crate::param::Value::Text(filter.to_owned()))
                .map_err(PluginError::Query)?;
        }
        Ok(filter)
    }
}

impl RangeRequest<'_> {
    /// What `source` reaches its data source's shared connection with (a range read shares
    /// the connection of the stream's channels).
    pub fn shared<'s>(&'s self, source: &'s dyn SourceKind) -> SharedContext<'s> {
        SharedContext {
            source,
            settings: self.settings,
            connections: self.connections,
            clock: Arc::new(crate::clock::SystemClock),
            limits: self.limits,
            metrics: self.metrics,
        }
    }
}

/// What a source reaches (or starts) its data source's shared connection with: the
/// instance's settings and the plugin's connections, clock, limits and counters.
#[derive(Debug, Clone)]
pub struct SharedContext<'a> {
    /// Whose connection.
    pub source: &'a dyn SourceKind,
    /// The data source instance's settings.
    pub settings: &'a Arc<Settings>,
    /// Connections shared between channels, one registry per source.
    pub connections: &'a Connections,
    /// Where row times come from.
    pub clock: Arc<dyn Clock>,
    /// The process's limits.
    pub limits: &'a Limits,
    /// The feed counters CollectMetrics reports.
    pub metrics: &'a Arc<FeedMetrics>,
}

impl SharedContext<'_> {
    /// The source's section of the settings.
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] naming the setting that configures the source, when
    /// the data source does not.
    pub fn section<T: Section>(&self) -> Result<&T, PluginError> {
        self.settings
            .section::<T>()
            .ok_or_else(|| not_configured(self.source))
    }

    /// The connection (of type `C`) the data source instance shares between the source's
    /// channels; `start` makes it when none runs. It ends with the last channel holding it.
    pub fn connection<C: Send + Sync + 'static>(&self, start: impl FnOnce() -> Arc<C>) -> Arc<C> {
        let registry = self
            .connections
            .registry::<feed::Registry<crate::settings::InstanceKey, C>>(self.source.name());
        let Ok(connection) = registry.get_or_try_insert(&self.settings.key, || {
            Ok::<_, std::convert::Infallible>(start())
        });
        connection
    }
}

/// What parses a source's section of the data source settings ([`SectionInfo::parse`]).
pub type SettingsParser = fn(
    &crate::settings::SettingsData<'_>,
) -> Result<Option<Arc<dyn Section>>, crate::settings::SettingsError>;

/// The [`SettingsParser`] of section type `T`: [`Section::parse`], type-erased.
///
/// # Errors
/// `T::parse`'s.
pub fn parser<T: Section>(
    data: &crate::settings::SettingsData<'_>,
) -> Result<Option<Arc<dyn Section>>, crate::settings::SettingsError> {
    T::parse(data).map(|s| s.map(|s| Arc::new(s) as Arc<dyn Section>))
}

/// The error of a stream whose source the data source does not configure.
fn not_configured(source: &dyn SourceKind) -> PluginError {
    PluginError::NotConfigured {
        kind: source.name(),
        setting: source.required_setting(),
    }
}

impl fmt::Debug for dyn SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceKind({})", self.name())
    }
}

impl PartialEq for dyn SourceKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// A producer of rows for one stream (one channel).
///
/// Lifecycle, as the [`StreamHub`](crate::hub::StreamHub) drives it:
/// 1. When a channel is first opened (by QueryData, SubscribeStream or RunStream), the hub
///    asks the stream's [`SourceKind`] to open it, gives the ring its
///    [`fields`](Source::fields), charges the channel to the requester (its rows, and
///    [`held_bytes`](Source::held_bytes) for what the source keeps beside them), and, when
///    the query asked for backfill, calls [`history`](Source::history) once, synchronously,
///    so the very first QueryData already shows history.
/// 2. It then spawns [`run`](Source::run) on the tokio runtime. `run` pushes rows through the
///    [`RowSink`] for as long as it likes (each [`RowSink::batch`] holds the channel's lock:
///    read and parse outside it); a stream that should never end (a signal) never
///    returns. Returning `Ok` ends the stream for good; returning `Err` is reported to the
///    RunStream callers, which makes Grafana restart them.
/// 3. When no RunStream has used the channel for the hub's linger time, the hub drops the
///    channel: the `run` future is aborted at its next await point and the ring is freed.
///
/// # Example
/// A source that counts once a second:
/// ```
/// use std::future::Future;
/// use ringstream_frame::{Field, FieldType, Value};
/// use ringstream_plugin::{source::{RowSink, Source}, PluginError};
///
/// struct Ticker;
///
/// impl Source for Ticker {
///     fn fields(&self) -> Vec<Field> {
///         vec![Field::new("time", FieldType::Time), Field::new("n", FieldType::Number)]
///     }
///
///     fn run(self, sink: RowSink) -> impl Future<Output = Result<(), PluginError>> + Send {
///         async move {
///             let mut n = 0.0;
///             let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
///             loop {
///                 tick.tick().await;
///                 let now = sink.clock().now_ms() * 1_000_000;
///                 sink.push_row(&[Value::Time(now), Value::Number(n)])?;
///                 n += 1.0;
///             }
///         }
///     }
/// }
/// ```
pub trait Source: Send + 'static {
    /// The fields of every row, in order, when the channel is made. The default: only the
    /// `time` field (a message feed adds fields as its payloads' keys first appear).
    fn fields(&self) -> Vec<Field> {
        payload::RowBuilder::initial_fields()
    }

    /// Fills the channel with history ending at `now_ms`, before the stream goes live. The
    /// default has none (a message bus has no past to replay).
    ///
    /// # Errors
    /// When a row does not fit the ring's schema (a bug in the source).
    fn history(&mut self, batch: &mut Batch<'_>, now_ms: i64) -> Result<(), PluginError> {
        let _ = (batch, now_ms);
        Ok(())
    }

    /// The most bytes the source holds for its channel beside the rows (a message queue's
    /// bound, say), charged when the channel is made. Holdings that vary are reported with
    /// [`Batch::set_held_bytes`] instead. The default: none.
    fn held_bytes(&self) -> u64 {
        0
    }

    /// Produces live rows into `sink`; see the trait's lifecycle.
    fn run(self, sink: RowSink) -> impl Future<Output = Result<(), PluginError>> + Send;
}

/// A [`Source`] behind a pointer: what [`SourceKind::open`] returns (every `Source` is one).
/// Its methods have their own names so that they never shadow a `Source`'s.
pub trait DynSource: Send + 'static {
    /// [`Source::fields`].
    fn boxed_fields(&self) -> Vec<Field>;
    /// [`Source::history`].
    ///
    /// # Errors
    /// As [`Source::history`].
    fn boxed_history(&mut self, batch: &mut Batch<'_>, now_ms: i64) -> Result<(), PluginError>;
    /// [`Source::held_bytes`].
    fn boxed_held_bytes(&self) -> u64;
    /// [`Source::run`].
    fn run_boxed(self: Box<Self>, sink: RowSink) -> BoxFuture<'static, Result<(), PluginError>>;
}

impl<S: Source> DynSource for S {
    fn boxed_fields(&self) -> Vec<Field> {
        self.fields()
    }

    fn boxed_history(&mut self, batch: &mut Batch<'_>, now_ms: i64) -> Result<(), PluginError> {
        self.history(batch, now_ms)
    }

    fn boxed_held_bytes(&self) -> u64 {
        self.held_bytes()
    }

    fn run_boxed(self: Box<Self>, sink: RowSink) -> BoxFuture<'static, Result<(), PluginError>> {
        Box::pin((*self).run(sink))
    }
}

/// The channel side of a [`RowSink`]: implemented by the hub.
pub trait ChannelSink: Send + Sync + 'static {
    /// Runs `f` with the channel locked, then applies what it did (budget, notices) and
    /// wakes the channel's readers.
    fn with_batch(&self, f: &mut dyn FnMut(&mut Batch<'_>));

    /// The clock row times should come from.
    fn clock(&self) -> &dyn Clock;
}

/// A source's handle to its channel: rows, fields and notices go in through it.
#[derive(Clone)]
pub struct RowSink(Arc<dyn ChannelSink>);

impl fmt::Debug for RowSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowSink")
    }
}

impl RowSink {
    /// A sink into `channel`.
    pub fn new(channel: Arc<dyn ChannelSink>) -> Self {
        Self(channel)
    }

    /// Pushes a row by position.
    ///
    /// # Errors
    /// When the row does not fit the schema.
    pub fn push_row(&self, row: &[Value<'_>]) -> Result<u64, PluginError> {
        let mut out = Err(PluginError::Encode("the channel took no batch".into()));
        self.batch(|b| out = b.push_row(row));
        out
    }

    /// Runs `f` with the channel locked, to push several rows, add fields or set notices at
    /// once; then the channel is kept within its budget and its readers are woken. Keep `f`
    /// short: readers of this channel wait for it. Results come out through what `f`
    /// captures.
    pub fn batch(&self, f: impl FnOnce(&mut Batch<'_>)) {
        let mut f = Some(f);
        self.0.with_batch(&mut |b| {
            if let Some(f) = f.take() {
                f(b);
            }
        });
    }

    /// The clock row times should come from.
    pub fn clock(&self) -> &dyn Clock {
        self.0.clock()
    }
}

/// What a source may do to its channel's frame in one [`RowSink::batch`]: push rows, add
/// fields, set its notices and say what it holds. It never sees the ring itself, so the
/// capacity, the append mode and the hub's own notices stay the hub's.
#[derive(Debug)]
pub struct Batch<'a> {
    ring: &'a mut RingFrame,
    positions: Option<&'a mut Positions>,
    notices: Option<Vec<Notice>>,
    held_bytes: Option<u64>,
    start: Option<Position>,
}

/// What a batch leaves for the channel to apply.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// The source's new notices, when it set them.
    pub notices: Option<Vec<Notice>>,
    /// What the source holds now, when it said.
    pub held_bytes: Option<u64>,
    /// Where the channel's rows start in the engine, when the source said.
    pub start: Option<Position>,
}

/// Where an engine that keeps history holds a row: a NATS JetStream stream sequence, or a
/// Redis stream id (`ms-seq`) as `ms << 64 | seq`. Positions increase along a stream.
pub type Position = u128;

/// The engine positions of a channel's rows, oldest first, for sources whose engine keeps
/// history: one per row of the ring, or none.
#[derive(Debug, Default)]
pub struct Positions {
    positions: std::collections::VecDeque<Position>,
    /// The engine's newest position when the channel was made: rows up to it are its
    /// history, which QueryData reads from the engine and the channel never streams.
    history_end: Option<Position>,
    /// The ring sequence after the newest history row pushed.
    history_seq: u64,
    /// From where the ring holds every row of the stream: its start, then past the newest
    /// row it dropped.
    covered_from: Option<Position>,
}

impl Positions {
    /// How many rows have a position.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether no row has one.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The position of the `i`-th oldest row.
    pub fn get(&self, i: usize) -> Option<Position> {
        self.positions.get(i).copied()
    }

    /// The newest row's position.
    pub fn last(&self) -> Option<Position> {
        self.positions.back().copied()
    }

    /// The engine's newest position when the channel was made, once the source said.
    pub fn history_end(&self) -> Option<Position> {
        self.history_end
    }

    /// The ring sequence after the newest history row pushed (0: none yet): rows before it
    /// count as published from the start, as a signal's backfill does.
    pub fn history_seq(&self) -> u64 {
        self.history_seq
    }

    /// The position from which the ring holds every row of the stream (once the source said
    /// where it starts): rows before it, if any, are the engine's to give.
    pub fn covered_from(&self) -> Option<Position> {
        self.covered_from
    }

    /// How many rows lie before position `from`: the index of the first row at or after it.
    pub fn index_of(&self, from: Position) -> usize {
        self.positions.partition_point(|p| *p < from)
    }

    /// Drops the positions of rows the ring no longer holds (it holds `len`).
    pub fn keep_last(&mut self, len: usize) {
        while self.positions.len() > len {
            if let Some(dropped) = self.positions.pop_front() {
                self.covered_from = Some(dropped.saturating_add(1));
            }
        }
    }

    fn push(&mut self, position: Position, seq: u64, ring_len: usize) {
        self.positions.push_back(position);
        self.keep_last(ring_len);
        if self.history_end.is_some_and(|end| position <= end) {
            self.history_seq = seq + 1;
        }
    }
}

impl<'a> Batch<'a> {
    /// A batch over `ring`: what the hub makes for each [`RowSink::batch`]; public so that a
    /// source's own tests can drive it over a frame of theirs.
    pub fn new(ring: &'a mut RingFrame) -> Self {
        Self {
            ring,
            positions: None,
            notices: None,
            held_bytes: None,
            start: None,
        }
    }

    /// A batch over `ring` whose rows' engine positions go into `positions`.
    pub fn with_positions(ring: &'a mut RingFrame, positions: &'a mut Positions) -> Self {
        Self {
            positions: Some(positions),
            ..Self::new(ring)
        }
    }

    /// What the batch leaves for the channel to apply.
    pub fn into_outcome(self) -> BatchOutcome {
        BatchOutcome {
            notices: self.notices,
            held_bytes: self.held_bytes,
            start: self.start,
        }
    }

    /// Pushes a row by position: one value per field.
    ///
    /// # Errors
    /// When the row does not fit the schema.
    pub fn push_row(&mut self, row: &[Value<'_>]) -> Result<u64, PluginError> {
        self.ring.push_row(row).map_err(PluginError::from)
    }

    /// Pushes a row the engine keeps at `position` (its stream sequence number: positions
    /// increase from row to row). A source whose engine has history pushes every row so.
    ///
    /// # Errors
    /// When the row does not fit the schema.
    pub fn push_row_at(
        &mut self,
        position: Position,
        row: &[Value<'_>],
    ) -> Result<u64, PluginError> {
        let seq = self.ring.push_row(row).map_err(PluginError::from)?;
        let len = self.ring.len();
        if let Some(p) = self.positions.as_deref_mut() {
            p.push(position, seq, len);
        }
        Ok(seq)
    }

    /// Says where the channel's rows start in the engine: the position of its first row to
    /// come, and the engine's newest position now (`history_end`): the rows up to it are
    /// history, which QueryData reads from the engine ([`SourceKind::range`]) and the
    /// channel never streams. QueryData waits for this before it reads the engine. Call it
    /// before pushing the first row.
    pub fn set_start_position(&mut self, position: Position, history_end: Position) {
        self.start = Some(position);
        if let Some(p) = self.positions.as_deref_mut() {
            p.history_end = Some(history_end);
            p.covered_from = Some(position);
        }
    }

    /// Adds a field (older rows hold null in it); returns its index.
    ///
    /// # Errors
    /// Past the frame's field limit.
    pub fn add_field(&mut self, field: Field) -> Result<usize, PluginError> {
        self.ring.add_field(field).map_err(PluginError::from)
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        self.ring.fields()
    }

    /// The most rows the channel keeps now (the budget may have cut it below the query's).
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Replaces the source's notices on the frame (the hub's stay).
    pub fn set_notices(&mut self, notices: Vec<Notice>) {
        self.notices = Some(notices);
    }

    /// Says how many bytes the source holds for this channel beyond the frame and its
    /// fixed holdings ([`Source::held_bytes`]), e.g. parsing state; charged to the channel.
    pub fn set_held_bytes(&mut self, bytes: u64) {
        self.held_bytes = Some(bytes);
    }
}

/// A registry of a source's shared connections, as CollectMetrics counts them.
pub trait ConnectionRegistry: Any + Send + Sync {
    /// Connections alive now.
    fn live(&self) -> usize;
}

/// The connections the hub's channels share: one registry per registry type (each source
/// keeps its own), made on first use.
#[derive(Default)]
pub struct Connections {
    registries: Mutex<HashMap<TypeId, Entry>>,
}

/// A registry under its source's name, as itself (for its source) and as something that
/// counts connections (for metrics).
type Entry = (
    &'static str,
    Arc<dyn Any + Send + Sync>,
    Arc<dyn ConnectionRegistry>,
);

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

impl Connections {
    /// The registry of type `R` (made empty on first use), labelled `source` in metrics.
    pub fn registry<R: ConnectionRegistry + Default>(&self, source: &'static str) -> Arc<R> {
        let mut map = lock(&self.registries);
        let (_, any, _) = map.entry(TypeId::of::<R>()).or_insert_with(|| {
            let r = Arc::new(R::default());
            (
                source,
                Arc::clone(&r) as Arc<dyn Any + Send + Sync>,
                r as Arc<dyn ConnectionRegistry>,
            )
        });
        match Arc::clone(any).downcast::<R>() {
            Ok(r) => r,
            // The entry for `TypeId::of::<R>()` was made from an `R` above.
            Err(_) => Arc::new(R::default()),
        }
    }

    /// Connections open now, by source name.
    pub fn live(&self) -> Vec<(&'static str, usize)> {
        let map = lock(&self.registries);
        let mut out: Vec<_> = map.values().map(|(name, _, r)| (*name, r.live())).collect();
        out.sort_unstable();
        out
    }
}
