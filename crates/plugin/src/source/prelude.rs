//! What a source module uses of the source API, in one import: `use super::prelude::*;`.
//!
//! The source API ([`SourceKind`], [`Source`], their contexts), the message-feed toolkit
//! (queue, consumer, fan-out, link state, backoff, rate limit, connection registry, payload
//! rows) and the settings types a source parses its section with. A source module needs
//! nothing else of the crate (docs/ARCHITECTURE.md: "a source module depends only on the
//! source API and its own settings section").

pub(crate) use super::feed::{
    self, Backoff, Delivery, Fanout, FeedError, FeedLabel, FeedMetrics, Intake, LinkState, Message,
    QueueTx, RateLimit, Readers, Reading, Registry,
};
pub(crate) use super::payload::{FeedSpec, RowBuilder, FIELDS, TIME_PATH};
pub(crate) use super::{
    parser, with_section, Discovery, DynSource, HealthCheck, Layout, OpenContext, Position,
    RangeRead, RangeRequest, RowSink, SectionInfo, SharedContext, Source, SourceInfo, SourceKind,
    Tail, Topics, TopicsRequest, Variants,
};
pub(crate) use crate::allow::{Allow, Syntax};
pub(crate) use crate::clock::Clock;
pub(crate) use crate::hub::lock;
pub(crate) use crate::param::{Kind, Param};
pub(crate) use crate::query::{limits, StreamSpec};
pub(crate) use crate::settings::{
    limits as settings_limits, parse_url, Endpoint, InstanceKey, Secret, Section, Setting,
    SettingKind, Settings, SettingsData, SettingsError,
};
pub(crate) use crate::PluginError;
