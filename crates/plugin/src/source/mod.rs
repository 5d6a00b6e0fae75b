//! Sources: where a stream's rows come from. A new source is one file implementing
//! [`Source`] (and one arm in the hub's dispatch over [`SourceSpec`](crate::query::SourceSpec)).
//!
//! - [`SignalSource`]: synthetic signals, with history.
//! - [`MqttSource`]: an MQTT topic filter on the data source's broker.
//! - [`WebSocketSource`]: a WebSocket feed on the data source's server.
//!
//! The two message feeds share [`payload`] (payloads to rows) and `feed` (connections
//! shared through a registry, reconnects, notices, TLS).

pub(crate) mod feed;
mod mqtt;
pub mod payload;
mod signal;
mod websocket;

use std::future::Future;
use std::time::Duration;

use ringstream_frame::Field;

pub use feed::metrics;
pub use mqtt::{topic_matches, MqttSource};
pub use signal::SignalSource;
pub use websocket::WebSocketSource;

use crate::hub::{Batch, RowSink};
use crate::settings::{InstanceKey, Settings};
use crate::PluginError;

/// The connections the hub's channels share: one MQTT connection per data source instance,
/// one WebSocket connection per instance and path. Each lives while a channel holds it.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    pub(crate) mqtt: feed::Registry<InstanceKey, mqtt::MqttConnection>,
    pub(crate) websocket: feed::Registry<(InstanceKey, String), websocket::WsFeed>,
}

impl Connections {
    /// Connections open now (MQTT, WebSocket).
    pub(crate) fn live(&self) -> (usize, usize) {
        (self.mqtt.live(), self.websocket.live())
    }
}

/// CheckHealth for MQTT: a real connection with the data source's credentials.
pub(crate) async fn check_mqtt(settings: &Settings, timeout: Duration) -> Result<String, String> {
    mqtt::check(settings, timeout).await
}

/// CheckHealth for WebSocket: a real handshake with the data source's headers.
pub(crate) async fn check_websocket(
    settings: &Settings,
    timeout: Duration,
) -> Result<String, String> {
    websocket::check(settings, timeout).await
}

/// A producer of rows for one stream (one channel).
///
/// Lifecycle, as the [`StreamHub`](crate::hub::StreamHub) drives it:
/// 1. When a channel is first opened (by QueryData, SubscribeStream or RunStream), the hub
///    creates the source, gives the ring its [`fields`](Source::fields), charges the channel
///    to the requester (its rows, and [`held_bytes`](Source::held_bytes) for what the source
///    keeps beside them), and, when the query asked for backfill, calls
///    [`history`](Source::history) once, synchronously, so the very first QueryData already
///    shows history.
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
/// use ringstream_plugin::{hub::RowSink, source::Source, PluginError};
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
    /// The fields of every row, in order.
    fn fields(&self) -> Vec<Field>;

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
