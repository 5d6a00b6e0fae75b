//! The gRPC services Grafana calls: data (QueryData), diagnostics (CheckHealth) and stream
//! (SubscribeStream, RunStream, PublishStream).
//!
//! They implement the generated `pluginv2` traits that `grafana-plugin-sdk` exposes, rather
//! than the SDK's typed wrappers, because the wrappers (0.5.0) reject a whole request for
//! things this plugin must survive: a user whose role is `None` (sent since Grafana 10.2),
//! one query whose JSON does not parse (its neighbours would fail too), and an out-of-range
//! time range (a panic). Here each query is validated on its own and answered on its own
//! refId.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use grafana_plugin_sdk::pluginv2::{
    self, check_health_response::HealthStatus, data_server::DataServer,
    diagnostics_server::DiagnosticsServer, publish_stream_response, stream_server::StreamServer,
    subscribe_stream_response,
};
use ringstream_frame::RingFrame;
use tonic::{Request, Response, Status};

use crate::channel::ChannelPath;
use crate::hub::{Channel, StreamHub};
use crate::query::StreamSpec;
use crate::settings::{InstanceKey, Settings};
use crate::PluginError;

/// How long CheckHealth waits for each connection.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The plugin's services, around one [`StreamHub`].
#[derive(Debug, Clone)]
pub struct RingstreamService {
    hub: StreamHub,
}

impl RingstreamService {
    /// Services over `hub`.
    pub fn new(hub: StreamHub) -> Self {
        Self { hub }
    }

    /// Serves the data, diagnostics and stream services (and gRPC health, which go-plugin
    /// checks) on `listener` until the process ends.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), tonic::transport::Error> {
        let (mut health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("plugin", tonic_health::ServingStatus::Serving)
            .await;
        health.set_serving::<DataServer<Self>>().await;
        health.set_serving::<DiagnosticsServer<Self>>().await;
        health.set_serving::<StreamServer<Self>>().await;
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(DataServer::new(self.clone()))
            .add_service(DiagnosticsServer::new(self.clone()))
            .add_service(StreamServer::new(self))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    }

    /// Answers one query: its frame, or an error on its own refId.
    fn answer(
        &self,
        query: &pluginv2::DataQuery,
        ctx: Option<&pluginv2::PluginContext>,
    ) -> pluginv2::DataResponse {
        match self.query_frame(query, ctx) {
            Ok(frame) => match arrow_ipc(&frame) {
                Ok(bytes) => pluginv2::DataResponse {
                    frames: vec![bytes],
                    status: 200,
                    ..Default::default()
                },
                Err(e) => error_response(&e, 500),
            },
            Err(e) => {
                let status = match e {
                    PluginError::TooManyChannels { .. } => 503,
                    PluginError::Query(_)
                    | PluginError::BadPath(_)
                    | PluginError::Settings(_)
                    | PluginError::NotConfigured { .. } => 400,
                    _ => 500,
                };
                error_response(&e, status)
            }
        }
    }

    fn query_frame(
        &self,
        query: &pluginv2::DataQuery,
        ctx: Option<&pluginv2::PluginContext>,
    ) -> Result<RingFrame, PluginError> {
        let spec = StreamSpec::from_json_bytes(&query.json)?;
        let uid = datasource_uid(ctx)
            .ok_or_else(|| PluginError::BadPath("the request carries no datasource uid".into()))?;
        let path = ChannelPath::of(&spec);
        let channel_id = path.channel_id(uid)?;
        let channel = self.open(ctx, &path, &spec)?;
        let (from, to) = match query.time_range {
            Some(r) if r.from_epoch_ms <= r.to_epoch_ms => (r.from_epoch_ms, r.to_epoch_ms),
            Some(r) => {
                return Err(crate::query::QueryError {
                    field: "timeRange".into(),
                    problem: format!("from ({}) is after to ({})", r.from_epoch_ms, r.to_epoch_ms),
                }
                .into())
            }
            None => (i64::MIN / 1_000_000, i64::MAX / 1_000_000),
        };
        let mut frame = channel.query_frame(&viewer(ctx), from, to)?;
        frame.set_ref_id(Some(query.ref_id.clone()));
        let meta = frame.meta_mut();
        meta.channel = Some(channel_id);
        meta.executed_query_string = Some(format!("stream {path}"));
        meta.preferred_visualisation_type = Some("graph".into());
        Ok(frame)
    }
}

impl RingstreamService {
    /// Opens a channel, with the request's data source settings when the stream needs a
    /// connection (signals do not, so a data source with broken settings still serves them).
    fn open(
        &self,
        ctx: Option<&pluginv2::PluginContext>,
        path: &ChannelPath,
        spec: &StreamSpec,
    ) -> Result<Arc<Channel>, PluginError> {
        let settings = if spec.source.needs_connection() {
            settings_of(ctx)?
        } else {
            None
        };
        self.hub.open_in(settings.as_ref(), path, spec)
    }
}

/// The data source instance settings of a request, validated; `None` when it has none.
///
/// # Errors
/// [`PluginError::Settings`] naming the bad field (never quoting a secret).
pub fn settings_of(
    ctx: Option<&pluginv2::PluginContext>,
) -> Result<Option<Arc<Settings>>, PluginError> {
    let Some(ctx) = ctx else { return Ok(None) };
    let Some(ds) = &ctx.data_source_instance_settings else {
        return Ok(None);
    };
    let key = InstanceKey {
        org_id: ctx.org_id,
        uid: ds.uid.clone(),
        updated_ms: ds.last_updated_ms,
    };
    Ok(Some(Arc::new(Settings::parse(
        key,
        &ds.json_data,
        &ds.decrypted_secure_json_data,
    )?)))
}

fn error_response(e: &PluginError, status: i32) -> pluginv2::DataResponse {
    pluginv2::DataResponse {
        error: e.to_string(),
        status,
        ..Default::default()
    }
}

/// A frame as Grafana reads QueryData frames: an Arrow IPC file with Grafana's metadata.
fn arrow_ipc(frame: &RingFrame) -> Result<Vec<u8>, PluginError> {
    let batch = ringstream_frame::arrow::to_record_batch(frame)?;
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &batch.schema())
        .map_err(|e| PluginError::Encode(e.to_string()))?;
    writer
        .write(&batch)
        .and_then(|()| writer.finish())
        .map_err(|e| PluginError::Encode(e.to_string()))?;
    drop(writer);
    Ok(bytes)
}

/// Who asks: the org and login of the request's user ("" when Grafana itself asks). The hub
/// keeps a served mark per viewer, so one user's queries do not move another's.
fn viewer(ctx: Option<&pluginv2::PluginContext>) -> String {
    let org = ctx.map_or(0, |c| c.org_id);
    let login = ctx
        .and_then(|c| c.user.as_ref())
        .map_or("", |u| u.login.as_str());
    format!("{org}/{login}")
}

fn datasource_uid(ctx: Option<&pluginv2::PluginContext>) -> Option<&str> {
    ctx?.data_source_instance_settings
        .as_ref()
        .map(|s| s.uid.as_str())
        .filter(|uid| !uid.is_empty())
}

#[tonic::async_trait]
impl pluginv2::data_server::Data for RingstreamService {
    async fn query_data(
        &self,
        request: Request<pluginv2::QueryDataRequest>,
    ) -> Result<Response<pluginv2::QueryDataResponse>, Status> {
        let request = request.into_inner();
        let ctx = request.plugin_context.as_ref();
        let responses: HashMap<String, pluginv2::DataResponse> = request
            .queries
            .iter()
            .map(|q| {
                let response = self.answer(q, ctx);
                if !response.error.is_empty() {
                    tracing::info!(ref_id = %q.ref_id, error = %response.error, "query refused");
                }
                (q.ref_id.clone(), response)
            })
            .collect();
        Ok(Response::new(pluginv2::QueryDataResponse { responses }))
    }
}

#[tonic::async_trait]
impl pluginv2::diagnostics_server::Diagnostics for RingstreamService {
    async fn check_health(
        &self,
        request: Request<pluginv2::CheckHealthRequest>,
    ) -> Result<Response<pluginv2::CheckHealthResponse>, Status> {
        let request = request.into_inner();
        let (status, message) = match settings_of(request.plugin_context.as_ref()) {
            Err(e) => (HealthStatus::Error, format!("Settings: {e}")),
            Ok(settings) => health(settings.as_deref(), self.hub.channel_count()).await,
        };
        Ok(Response::new(pluginv2::CheckHealthResponse {
            status: status as i32,
            message,
            json_details: Vec::new(),
        }))
    }

    async fn collect_metrics(
        &self,
        _request: Request<pluginv2::CollectMetricsRequest>,
    ) -> Result<Response<pluginv2::CollectMetricsResponse>, Status> {
        use crate::source::metrics;
        use std::sync::atomic::Ordering::Relaxed;
        let (mqtt, websocket) = self.hub.connection_count();
        let text = format!(
            "# HELP ringstream_channels Live stream channels open.\n\
             # TYPE ringstream_channels gauge\n\
             ringstream_channels {}\n\
             # HELP ringstream_connections MQTT and WebSocket connections open.\n\
             # TYPE ringstream_connections gauge\n\
             ringstream_connections{{source=\"mqtt\"}} {mqtt}\n\
             ringstream_connections{{source=\"websocket\"}} {websocket}\n\
             # HELP ringstream_feed_messages_total Messages received from MQTT and WebSocket.\n\
             # TYPE ringstream_feed_messages_total counter\n\
             ringstream_feed_messages_total {}\n\
             # HELP ringstream_feed_rows_total Rows made from them.\n\
             # TYPE ringstream_feed_rows_total counter\n\
             ringstream_feed_rows_total {}\n\
             # HELP ringstream_feed_skipped_total Messages skipped (malformed, too large, empty).\n\
             # TYPE ringstream_feed_skipped_total counter\n\
             ringstream_feed_skipped_total {}\n\
             # HELP ringstream_feed_reconnects_total Reconnects of MQTT and WebSocket connections.\n\
             # TYPE ringstream_feed_reconnects_total counter\n\
             ringstream_feed_reconnects_total {}\n",
            self.hub.channel_count(),
            metrics::MESSAGES.load(Relaxed),
            metrics::ROWS.load(Relaxed),
            metrics::SKIPPED.load(Relaxed),
            metrics::RECONNECTS.load(Relaxed),
        );
        Ok(Response::new(pluginv2::CollectMetricsResponse {
            metrics: Some(pluginv2::collect_metrics_response::Payload {
                prometheus: text.into_bytes(),
            }),
        }))
    }
}

type PacketStream = Pin<Box<dyn Stream<Item = Result<pluginv2::StreamPacket, Status>> + Send>>;

#[tonic::async_trait]
impl pluginv2::stream_server::Stream for RingstreamService {
    async fn subscribe_stream(
        &self,
        request: Request<pluginv2::SubscribeStreamRequest>,
    ) -> Result<Response<pluginv2::SubscribeStreamResponse>, Status> {
        let request = request.into_inner();
        let ctx = request.plugin_context.as_ref();
        let response = match ChannelPath::parse(&request.path)
            .and_then(|(p, spec)| self.open(ctx, &p, &spec))
        {
            Ok(channel) => pluginv2::SubscribeStreamResponse {
                status: subscribe_stream_response::Status::Ok as i32,
                data: channel.initial_data(&viewer(ctx)).into_bytes(),
            },
            Err(e) => {
                tracing::info!(error = %e, "subscribe refused");
                pluginv2::SubscribeStreamResponse {
                    status: subscribe_stream_response::Status::NotFound as i32,
                    data: Vec::new(),
                }
            }
        };
        Ok(Response::new(response))
    }

    type RunStreamStream = PacketStream;

    #[allow(clippy::result_large_err)] // tonic::Status is the protocol's error type
    async fn run_stream(
        &self,
        request: Request<pluginv2::RunStreamRequest>,
    ) -> Result<Response<Self::RunStreamStream>, Status> {
        let request = request.into_inner();
        let (path, spec) =
            ChannelPath::parse(&request.path).map_err(|e| Status::not_found(e.to_string()))?;
        let channel = self
            .open(request.plugin_context.as_ref(), &path, &spec)
            .map_err(|e| match e {
                PluginError::TooManyChannels { .. } => Status::resource_exhausted(e.to_string()),
                _ => Status::failed_precondition(e.to_string()),
            })?;
        tracing::debug!(%path, "RunStream started");
        let packets = channel.run_stream().map(|packet| {
            packet
                .map(|data| pluginv2::StreamPacket { data })
                .map_err(|e| Status::unavailable(e.to_string()))
        });
        Ok(Response::new(Box::pin(packets)))
    }

    async fn publish_stream(
        &self,
        _request: Request<pluginv2::PublishStreamRequest>,
    ) -> Result<Response<pluginv2::PublishStreamResponse>, Status> {
        // Streams are read-only: viewers cannot inject rows.
        Ok(Response::new(pluginv2::PublishStreamResponse {
            status: publish_stream_response::Status::PermissionDenied as i32,
            data: Vec::new(),
        }))
    }
}

/// CheckHealth's verdict: every configured connection is made for real (credentials
/// included), each within [`HEALTH_TIMEOUT`]; the message says what worked and what failed,
/// never a secret.
async fn health(settings: Option<&Settings>, channels: usize) -> (HealthStatus, String) {
    let Some(settings) = settings.filter(|s| s.mqtt.is_some() || s.websocket.is_some()) else {
        return (
            HealthStatus::Ok,
            format!(
                "Ringstream is working: no MQTT or WebSocket connection is configured, so only \
                 the signal source is available ({channels} live stream(s) open)"
            ),
        );
    };
    let mqtt = async {
        match settings.mqtt {
            Some(_) => Some(crate::source::check_mqtt(settings, HEALTH_TIMEOUT).await),
            None => None,
        }
    };
    let websocket = async {
        match settings.websocket {
            Some(_) => Some(crate::source::check_websocket(settings, HEALTH_TIMEOUT).await),
            None => None,
        }
    };
    let (mqtt, websocket) = tokio::join!(mqtt, websocket);
    let mut ok = true;
    let mut parts = Vec::new();
    for (name, outcome) in [("MQTT", mqtt), ("WebSocket", websocket)] {
        match outcome {
            Some(Ok(m)) => parts.push(format!("{name}: {m}.")),
            Some(Err(m)) => {
                ok = false;
                parts.push(format!("{name} failed: {m}."));
            }
            None => {}
        }
    }
    let status = if ok {
        HealthStatus::Ok
    } else {
        HealthStatus::Error
    };
    (status, parts.join(" "))
}
