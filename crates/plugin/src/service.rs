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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use grafana_plugin_sdk::pluginv2::{
    self, check_health_response::HealthStatus, data_server::DataServer,
    diagnostics_server::DiagnosticsServer, publish_stream_response,
    resource_server::ResourceServer, stream_server::StreamServer, subscribe_stream_response,
};
use ringstream_frame::RingFrame;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::budget::Requester;
use crate::channel::ChannelPath;
use crate::hub::{Channel, EngineRead, StreamHub};
use crate::query::StreamSpec;
use crate::settings::{InstanceKey, Settings};
use crate::PluginError;

/// How long CheckHealth waits for each connection.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request the stream and diagnostics services read (paths and settings are small);
/// QueryData keeps gRPC's 4 MiB.
const MAX_SMALL_REQUEST: usize = 1 << 20;

/// The plugin's services, around one [`StreamHub`].
///
/// Work that can take long (making a channel and its history, copying and encoding a
/// frame) runs on blocking threads, at most `query_concurrency` at once across all
/// requests, and at most half of those for one QueryData request, so one request with many
/// queries cannot hold up the others.
#[derive(Debug, Clone)]
pub struct RingstreamService {
    hub: StreamHub,
    work: Arc<Semaphore>,
    settings: Arc<SettingsCache>,
}

impl RingstreamService {
    /// Services over `hub`.
    pub fn new(hub: StreamHub) -> Self {
        let slots = usize::try_from(hub.config().limits.query_concurrency).unwrap_or(1);
        Self {
            hub,
            work: Arc::new(Semaphore::new(slots.max(1))),
            settings: Arc::default(),
        }
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
        health.set_serving::<ResourceServer<Self>>().await;
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(DataServer::new(self.clone()))
            .add_service(
                DiagnosticsServer::new(self.clone()).max_decoding_message_size(MAX_SMALL_REQUEST),
            )
            .add_service(
                ResourceServer::new(self.clone()).max_decoding_message_size(MAX_SMALL_REQUEST),
            )
            .add_service(StreamServer::new(self).max_decoding_message_size(MAX_SMALL_REQUEST))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    }

    /// Runs `f` on a blocking thread once a work slot is free. A panic in `f` becomes an
    /// error for this request only.
    ///
    /// On a current-thread runtime (tests under tokio's paused time) `f` runs inline
    /// instead: paused time jumps ahead while a task waits for a blocking thread, which
    /// would make rows appear in the middle of a request.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
    ) -> Result<T, PluginError> {
        let _slot = Arc::clone(&self.work)
            .acquire_owned()
            .await
            .map_err(|_| PluginError::Encode("the plugin is shutting down".into()))?;
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        if flavor == tokio::runtime::RuntimeFlavor::CurrentThread {
            return f();
        }
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| PluginError::Encode(format!("the request's worker failed: {e}")))?
    }

    /// The request's data source settings ([`SettingsCache::of`]). The first time a version
    /// is seen, the streams it asks to record are opened in the background
    /// ([`StreamHub::record`]).
    fn settings_of(
        &self,
        ctx: Option<&pluginv2::PluginContext>,
    ) -> Result<Option<Arc<Settings>>, PluginError> {
        let (settings, fresh) = self.settings.of_fresh(ctx);
        if let (true, Ok(Some(s))) = (fresh, &settings) {
            if crate::source::SOURCES
                .iter()
                .any(|k| !k.recorded(s).is_empty())
            {
                let (hub, s) = (self.hub.clone(), Arc::clone(s));
                tokio::task::spawn_blocking(move || hub.record(&s));
            }
        }
        settings
    }

    /// Opens a channel for `who`, with the request's data source settings when the stream
    /// needs a connection (signals do not, so a data source with broken settings still
    /// serves them). Blocking: see [`StreamHub::open_in`].
    fn open(
        hub: &StreamHub,
        who: &Requester,
        settings: &Result<Option<Arc<Settings>>, PluginError>,
        path: &ChannelPath,
        spec: &StreamSpec,
    ) -> Result<Arc<Channel>, PluginError> {
        let settings = if spec.source.needs_connection() {
            match settings {
                Ok(s) => s.clone(),
                Err(e) => return Err(e.clone()),
            }
        } else {
            None
        };
        hub.open_in(who, settings.as_ref(), path, spec)
    }
}

/// The most data source instances whose parsed settings are kept.
const MAX_CACHED_SETTINGS: usize = 1024;

/// Parsed settings by instance and settings version: a request's settings are parsed
/// (PEM certificates included) once per version, not once per query. A new version of an
/// instance replaces the old ones; the cache holds at most [`MAX_CACHED_SETTINGS`].
#[derive(Debug, Default)]
struct SettingsCache {
    map: std::sync::Mutex<HashMap<InstanceKey, Result<Arc<Settings>, PluginError>>>,
}

impl SettingsCache {
    /// The data source instance settings of a request, validated; `None` when it has none.
    ///
    /// # Errors
    /// [`PluginError::Settings`] naming the bad field (never quoting a secret).
    fn of(
        &self,
        ctx: Option<&pluginv2::PluginContext>,
    ) -> Result<Option<Arc<Settings>>, PluginError> {
        self.of_fresh(ctx).0
    }

    /// [`SettingsCache::of`], and whether this version was parsed just now (first seen).
    fn of_fresh(
        &self,
        ctx: Option<&pluginv2::PluginContext>,
    ) -> (Result<Option<Arc<Settings>>, PluginError>, bool) {
        let Some(ctx) = ctx else {
            return (Ok(None), false);
        };
        let Some(ds) = &ctx.data_source_instance_settings else {
            return (Ok(None), false);
        };
        let key = InstanceKey {
            org_id: ctx.org_id,
            uid: ds.uid.clone(),
            updated_ms: ds.last_updated_ms,
        };
        if let Some(hit) = crate::hub::lock(&self.map).get(&key) {
            return (hit.clone().map(Some), false);
        }
        // Parsed outside the lock: other requests do not wait for a certificate bundle.
        let parsed = Settings::parse(key.clone(), &ds.json_data, &ds.decrypted_secure_json_data)
            .map(Arc::new)
            .map_err(PluginError::from);
        let mut map = crate::hub::lock(&self.map);
        map.retain(|k, _| !(k.org_id == key.org_id && k.uid == key.uid));
        if map.len() >= MAX_CACHED_SETTINGS {
            map.clear(); // rare: more instances than that; they are parsed again
        }
        map.insert(key, parsed.clone());
        (parsed.map(Some), true)
    }
}

/// Who asks: org, login and data source, with the data source's own limits when its
/// settings are valid.
fn requester(ctx: Option<&pluginv2::PluginContext>, settings: Option<&Settings>) -> Requester {
    Requester {
        org_id: ctx.map_or(0, |c| c.org_id),
        login: ctx
            .and_then(|c| c.user.as_ref())
            .map_or_else(String::new, |u| u.login.clone()),
        datasource: datasource_uid(ctx).map(str::to_owned),
        datasource_memory: settings.and_then(|s| s.memory_limit_bytes),
        datasource_connections: settings.and_then(|s| s.websocket_max_connections),
    }
}

fn error_response(e: &PluginError) -> pluginv2::DataResponse {
    let status = match e {
        PluginError::Budget(_) => 503,
        PluginError::NotAllowed { .. } => 403,
        PluginError::Query(_)
        | PluginError::BadPath(_)
        | PluginError::Settings(_)
        | PluginError::NotConfigured { .. }
        | PluginError::TooLarge { .. }
        | PluginError::Refused(_) => 400,
        _ => 500,
    };
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

fn datasource_uid(ctx: Option<&pluginv2::PluginContext>) -> Option<&str> {
    ctx?.data_source_instance_settings
        .as_ref()
        .map(|s| s.uid.as_str())
        .filter(|uid| !uid.is_empty())
}

/// One distinct query of a request: what it reads, and which of the request's queries
/// (index, refId) asked for it.
struct Job {
    path: ChannelPath,
    spec: StreamSpec,
    channel_id: String,
    /// The data source's uid (a cursor path's channel id holds it).
    uid: String,
    from: i64,
    to: i64,
    max_rows: Option<usize>,
    /// Whether an alert rule asks (Grafana's `FromAlert` header): it never streams, so it
    /// gets every row of the range and leaves no served mark.
    alert: bool,
    asked_by: Vec<(usize, String)>,
}

/// What identifies a distinct query within one request.
type JobKey = (ChannelPath, i64, i64, Option<usize>);

/// A query's stream, channel and range, validated; nothing opened yet.
fn prepare(
    query: &pluginv2::DataQuery,
    ctx: Option<&pluginv2::PluginContext>,
) -> Result<(JobKey, StreamSpec, String, String), PluginError> {
    let spec = StreamSpec::from_json_bytes(&query.json)?;
    let uid = datasource_uid(ctx)
        .ok_or_else(|| PluginError::BadPath("the request carries no datasource uid".into()))?;
    let path = ChannelPath::of(&spec);
    let channel_id = path.channel_id(uid)?;
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
    let max_rows = usize::try_from(query.max_data_points)
        .ok()
        .filter(|n| *n > 0);
    Ok(((path, from, to, max_rows), spec, channel_id, uid.to_owned()))
}

/// The newest rows of one distinct query's range: from the engine that keeps the stream's
/// history when its source has one (the channel is opened first all the same, so that the
/// live stream starts before the read ends), else from its channel's ring. With the channel
/// id the frame names when it is not the job's: a cursor path's (see [`crate::hub`]).
async fn job_rows(
    service: &RingstreamService,
    who: &Arc<Requester>,
    settings: &Arc<Result<Option<Arc<Settings>>, PluginError>>,
    job: &Arc<Job>,
    remaining: &AtomicUsize,
) -> Result<(RingFrame, Option<String>), PluginError> {
    let hub = &service.hub;
    let limits = hub.config().limits;
    let engine_settings = match settings.as_ref() {
        Ok(Some(s)) if job.spec.source.keeps_history(&job.spec) => Some(s),
        _ => None,
    };
    let range = |settings, before, deadline| crate::source::RangeRequest {
        after: None,
        spec: &job.spec,
        settings,
        connections: hub.connections(),
        limits: &limits,
        metrics: hub.metrics(),
        from_ms: job.from,
        to_ms: job.to,
        before,
        max_rows: job
            .max_rows
            .map_or(job.spec.capacity, |m| m.min(job.spec.capacity)),
        max_bytes: remaining.load(Ordering::Relaxed),
        deadline,
    };
    let history_deadline =
        || tokio::time::Instant::now() + Duration::from_secs(limits.history_seconds);
    let read = |request| async move {
        match job.spec.source.range(request) {
            Some(rows) => rows.await,
            None => Err(PluginError::Source("the source read no history".into())),
        }
    };
    if let (true, Some(s)) = (job.alert, engine_settings) {
        // An alert rule never streams: the whole range from the engine, no channel opened.
        s.allows(&job.spec)?;
        let rows = read(range(s, None, history_deadline())).await?;
        return Ok((rows, None));
    }
    let channel = {
        let (hub, who, settings, job) = (
            hub.clone(),
            Arc::clone(who),
            Arc::clone(settings),
            Arc::clone(job),
        );
        service
            .blocking(move || RingstreamService::open(&hub, &who, &settings, &job.path, &job.spec))
            .await?
    };
    if let Some(s) = engine_settings {
        // The engine answers the range up to where the channel takes over: every row after
        // that reaches the panel through the channel, so none comes twice. A cursor path
        // carries that position, so any plugin process can continue exactly there.
        let deadline = history_deadline();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let room = job.path.with_cursor(&job.uid, 0).is_some();
        let (before, channel_id) = if room {
            let cursor = channel.engine_cursor(job.to, left).await?;
            (
                cursor,
                cursor.and_then(|c| job.path.with_cursor(&job.uid, c)),
            )
        } else {
            (channel.engine_split(&who.viewer(), left).await?, None)
        };
        let rows = read(range(s, before, deadline)).await?;
        return Ok((rows, channel_id));
    }
    let (who, job) = (Arc::clone(who), Arc::clone(job));
    let max_bytes = remaining.load(Ordering::Relaxed);
    service
        .blocking(move || {
            channel
                .query_frame(
                    (!job.alert).then(|| who.viewer()).as_deref(),
                    job.from,
                    job.to,
                    job.max_rows,
                    max_bytes,
                )
                .map(|rows| (rows.frame, None))
        })
        .await
}

/// Encodes one distinct query's frame once per asking refId, each counted against the
/// response's remaining bytes.
fn encode_job(
    limits: &crate::limits::Limits,
    job: &Job,
    rows: Result<(RingFrame, Option<String>), PluginError>,
    remaining: &AtomicUsize,
) -> Vec<(usize, Result<Vec<u8>, PluginError>)> {
    let too_large = || PluginError::TooLarge {
        what: "the response",
        limit_mib: limits.max_response_mb,
        setting: "max_response_mb",
    };
    let (mut frame, channel_id) = match rows {
        Ok(rows) => rows,
        Err(e) => {
            return job
                .asked_by
                .iter()
                .map(|(i, _)| (*i, Err(e.clone())))
                .collect()
        }
    };
    let meta = frame.meta_mut();
    meta.channel = Some(channel_id.unwrap_or_else(|| job.channel_id.clone()));
    meta.executed_query_string = Some(format!("stream {}", job.path));
    meta.preferred_visualisation_type = Some("graph".into());
    job.asked_by
        .iter()
        .map(|(i, ref_id)| {
            frame.set_ref_id(Some(ref_id.clone()));
            let encoded = arrow_ipc(&frame).and_then(|bytes| {
                // Counted before it is kept: a response never holds more than the limit.
                let fits = remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(bytes.len())
                    })
                    .is_ok();
                if fits {
                    Ok(bytes)
                } else {
                    Err(too_large())
                }
            });
            (*i, encoded)
        })
        .collect()
}

#[tonic::async_trait]
impl pluginv2::data_server::Data for RingstreamService {
    async fn query_data(
        &self,
        request: Request<pluginv2::QueryDataRequest>,
    ) -> Result<Response<pluginv2::QueryDataResponse>, Status> {
        let request = request.into_inner();
        let ctx = request.plugin_context;
        let limits = self.hub.config().limits;
        let settings = Arc::new(self.settings_of(ctx.as_ref()));
        let who = Arc::new(requester(
            ctx.as_ref(),
            settings.as_ref().as_ref().ok().and_then(|s| s.as_deref()),
        ));
        let max_queries = usize::try_from(limits.max_queries_per_request).unwrap_or(usize::MAX);
        // Grafana's alerting sends `FromAlert: true` with every evaluation (and preview).
        let alert = request
            .headers
            .get("FromAlert")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let queries = request.queries;

        // Each query validated on its own; identical ones become one job.
        let mut answers: Vec<Option<Result<Vec<u8>, PluginError>>> =
            (0..queries.len()).map(|_| None).collect();
        let mut jobs: Vec<Job> = Vec::new();
        let mut by_key: HashMap<JobKey, usize> = HashMap::new();
        for (i, q) in queries.iter().enumerate() {
            if i >= max_queries {
                answers[i] = Some(Err(PluginError::Refused(format!(
                    "this request holds {} queries; at most {max_queries} are answered \
                     (`max_queries_per_request`, [plugin.seed-ringstream-datasource] in \
                     grafana.ini)",
                    queries.len()
                ))));
                continue;
            }
            match prepare(q, ctx.as_ref()) {
                Ok((key, spec, channel_id, uid)) => match by_key.get(&key) {
                    Some(&j) => jobs[j].asked_by.push((i, q.ref_id.clone())),
                    None => {
                        by_key.insert(key.clone(), jobs.len());
                        let (path, from, to, max_rows) = key;
                        jobs.push(Job {
                            path,
                            spec,
                            channel_id,
                            uid,
                            from,
                            to,
                            max_rows,
                            alert,
                            asked_by: vec![(i, q.ref_id.clone())],
                        });
                    }
                },
                Err(e) => answers[i] = Some(Err(e)),
            }
        }

        // The jobs, a few at a time on blocking threads.
        let remaining = Arc::new(AtomicUsize::new(limits.response_bytes()));
        let per_request = usize::try_from(limits.query_concurrency / 2)
            .unwrap_or(1)
            .max(1);
        let mut done = futures_util::stream::iter(jobs.into_iter().map(|job| {
            let (who, settings, remaining) = (
                Arc::clone(&who),
                Arc::clone(&settings),
                Arc::clone(&remaining),
            );
            let job = Arc::new(job);
            async move {
                let rows = job_rows(self, &who, &settings, &job, &remaining).await;
                let asked_by = job.asked_by.clone();
                let outcome = self
                    .blocking(move || Ok(encode_job(&limits, &job, rows, &remaining)))
                    .await;
                match outcome {
                    Ok(results) => results,
                    Err(e) => asked_by.iter().map(|(i, _)| (*i, Err(e.clone()))).collect(),
                }
            }
        }))
        .buffer_unordered(per_request);
        while let Some(results) = done.next().await {
            for (i, result) in results {
                answers[i] = Some(result);
            }
        }
        drop(done);

        // One response per refId; queries that share a refId share it (each frame
        // carries that refId; errors are named by the query's position).
        let mut responses: HashMap<String, pluginv2::DataResponse> = HashMap::new();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for q in &queries {
            *count.entry(q.ref_id.as_str()).or_default() += 1;
        }
        for (i, (q, answer)) in queries.iter().zip(answers).enumerate() {
            let answer = answer.unwrap_or_else(|| Err(PluginError::Encode("not answered".into())));
            let shared = count.get(q.ref_id.as_str()).copied().unwrap_or(1) > 1;
            let entry =
                responses
                    .entry(q.ref_id.clone())
                    .or_insert_with(|| pluginv2::DataResponse {
                        status: 200,
                        ..Default::default()
                    });
            match answer {
                Ok(frame) => entry.frames.push(frame),
                Err(e) => {
                    tracing::info!(ref_id = %q.ref_id, error = %e, "query refused");
                    let mut refused = error_response(&e);
                    if shared {
                        refused.error = format!(
                            "query #{} of the request (refId {:?} is used by more than one \
                             query): {}",
                            i + 1,
                            q.ref_id,
                            refused.error
                        );
                    }
                    if entry.error.is_empty() {
                        entry.error = refused.error;
                        entry.status = refused.status;
                    } else {
                        entry.error.push_str("; ");
                        entry.error.push_str(&refused.error);
                    }
                }
            }
        }
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
        let (status, message) = match self.settings_of(request.plugin_context.as_ref()) {
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
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        let used = self.hub.budget().used();
        let limits = self.hub.config().limits;
        let feed = self.hub.feed_metrics();
        let mut text = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, samples: &[(String, u64)]| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(text, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        gauge(
            "ringstream_channels",
            "Live stream channels open.",
            "gauge",
            &one(self.hub.channel_count() as u64),
        );
        gauge(
            "ringstream_memory_bytes",
            "Bytes the channels hold (rows, queues, parsing state).",
            "gauge",
            &one(used.bytes),
        );
        gauge(
            "ringstream_memory_limit_bytes",
            "The memory budget (max_memory_mb).",
            "gauge",
            &one(limits.memory_bytes()),
        );
        gauge(
            "ringstream_signal_rows_per_second",
            "Signal rows the channels produce per second.",
            "gauge",
            &one(used.rows_per_second),
        );
        let connections: Vec<(String, u64)> = crate::source::SOURCES
            .iter()
            .filter(|s| s.needs_connection())
            .map(|s| {
                let live = self
                    .hub
                    .connection_count()
                    .iter()
                    .find(|(name, _)| *name == s.name())
                    .map_or(0, |(_, n)| *n);
                (format!("{{source=\"{}\"}}", s.name()), live as u64)
            })
            .collect();
        gauge(
            "ringstream_connections",
            "Connections of the message feeds open.",
            "gauge",
            &connections,
        );
        for (name, help, counter) in [
            (
                "ringstream_feed_messages_total",
                "Messages received from the message feeds.",
                &feed.messages,
            ),
            (
                "ringstream_feed_rows_total",
                "Rows made from them.",
                &feed.rows,
            ),
            (
                "ringstream_feed_skipped_total",
                "Messages skipped (malformed, too large or complex, empty).",
                &feed.skipped,
            ),
            (
                "ringstream_feed_reconnects_total",
                "Reconnects of the message feeds' connections.",
                &feed.reconnects,
            ),
        ] {
            gauge(name, help, "counter", &one(counter.load(Relaxed)));
        }
        Ok(Response::new(pluginv2::CollectMetricsResponse {
            metrics: Some(pluginv2::collect_metrics_response::Payload {
                prometheus: text.into_bytes(),
            }),
        }))
    }
}

type PacketStream = Pin<Box<dyn Stream<Item = Result<pluginv2::StreamPacket, Status>> + Send>>;

type ResourceStream =
    Pin<Box<dyn Stream<Item = Result<pluginv2::CallResourceResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pluginv2::resource_server::Resource for RingstreamService {
    type CallResourceStream = ResourceStream;

    async fn call_resource(
        &self,
        request: Request<pluginv2::CallResourceRequest>,
    ) -> Result<Response<Self::CallResourceStream>, Status> {
        let request = request.into_inner();
        let ctx = request.plugin_context.as_ref();
        // Settings that do not parse leave the resources that need none working.
        let settings = self.settings_of(ctx).ok().flatten();
        let url = if request.url.is_empty() {
            &request.path
        } else {
            &request.url
        };
        let answer = crate::resource::call(
            &self.hub,
            settings.as_deref(),
            datasource_uid(ctx),
            &request.method,
            url,
            &request.body,
        )
        .await;
        let mut headers = HashMap::new();
        headers.insert(
            "Content-Type".to_owned(),
            pluginv2::StringList {
                values: vec!["application/json".into()],
            },
        );
        let response = pluginv2::CallResourceResponse {
            code: i32::from(answer.status),
            headers,
            body: answer.body.to_string().into_bytes().into(),
        };
        Ok(Response::new(Box::pin(futures_util::stream::once(async {
            Ok(response)
        }))))
    }
}

#[tonic::async_trait]
impl pluginv2::stream_server::Stream for RingstreamService {
    async fn subscribe_stream(
        &self,
        request: Request<pluginv2::SubscribeStreamRequest>,
    ) -> Result<Response<pluginv2::SubscribeStreamResponse>, Status> {
        let request = request.into_inner();
        let ctx = request.plugin_context;
        let hub = self.hub.clone();
        let cache = Arc::clone(&self.settings);
        let answer = self
            .blocking(move || {
                let live = ChannelPath::parse_live(&request.path)?;
                let settings = cache.of(ctx.as_ref());
                let who = requester(
                    ctx.as_ref(),
                    settings.as_ref().ok().and_then(|s| s.as_deref()),
                );
                let channel = Self::open(&hub, &who, &settings, &live.path, &live.spec)?;
                Ok(match live.from {
                    Some(from) => channel.cursor_initial_data(from),
                    None => channel.initial_data(&who.viewer()),
                })
            })
            .await;
        let response = match answer {
            Ok(data) => pluginv2::SubscribeStreamResponse {
                status: subscribe_stream_response::Status::Ok as i32,
                data: data.into_bytes(),
            },
            Err(e) => {
                tracing::info!(error = %e, "subscribe refused");
                let status = match e {
                    PluginError::NotAllowed { .. } => {
                        subscribe_stream_response::Status::PermissionDenied
                    }
                    _ => subscribe_stream_response::Status::NotFound,
                };
                pluginv2::SubscribeStreamResponse {
                    status: status as i32,
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
        let live =
            ChannelPath::parse_live(&request.path).map_err(|e| Status::not_found(e.to_string()))?;
        let ctx = request.plugin_context;
        let hub = self.hub.clone();
        let cache = Arc::clone(&self.settings);
        let (opened, spec) = (live.path.clone(), live.spec.clone());
        let context = ctx.clone();
        let (channel, settings) = self
            .blocking(move || {
                let settings = cache.of(context.as_ref());
                let who = requester(
                    context.as_ref(),
                    settings.as_ref().ok().and_then(|s| s.as_deref()),
                );
                let channel = Self::open(&hub, &who, &settings, &opened, &spec)?;
                Ok((channel, settings.ok().flatten()))
            })
            .await
            .map_err(|e| run_stream_status(&e))?;
        tracing::debug!(path = %request.path, "RunStream started");
        let packets = match (live.from, settings) {
            (Some(from), Some(settings)) => {
                // Progress is the data source's: the same path string on another names
                // another server's stream.
                let key = format!(
                    "{}/{}/{}",
                    ctx.as_ref().map_or(0, |c| c.org_id),
                    datasource_uid(ctx.as_ref()).unwrap_or(""),
                    request.path
                );
                let read = engine_read(&self.hub, &self.work, live.spec, settings);
                channel
                    .run_cursor_stream(key, from, read)
                    .map_err(|e| run_stream_status(&e))?
                    .boxed()
            }
            _ => channel.run_stream().boxed(),
        };
        let packets = packets.map(|packet| {
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

/// RunStream's status for a channel that could not be opened or streamed.
fn run_stream_status(e: &PluginError) -> Status {
    match e {
        PluginError::Budget(_) | PluginError::Exhausted { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        PluginError::NotAllowed { .. } => Status::permission_denied(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

/// A cursor path's engine reads: `spec`'s rows at positions `after..before`, whatever their
/// time, at most the channel's capacity (the newest; a panel keeps no more) and one
/// response's bytes, within `history_seconds`. Each holds a work slot while it reads, as a
/// query does, so at most `query_concurrency` such frames are built at once.
fn engine_read(
    hub: &StreamHub,
    work: &Arc<Semaphore>,
    spec: StreamSpec,
    settings: Arc<Settings>,
) -> EngineRead {
    let (hub, work, spec) = (hub.clone(), Arc::clone(work), Arc::new(spec));
    Arc::new(move |after, before| {
        let (hub, work) = (hub.clone(), Arc::clone(&work));
        let (spec, settings) = (Arc::clone(&spec), Arc::clone(&settings));
        Box::pin(async move {
            let _slot = work
                .acquire_owned()
                .await
                .map_err(|_| PluginError::Encode("the plugin is shutting down".into()))?;
            let limits = hub.config().limits;
            let request = crate::source::RangeRequest {
                spec: &spec,
                settings: &settings,
                connections: hub.connections(),
                limits: &limits,
                metrics: hub.metrics(),
                from_ms: i64::MIN / 1_000_000,
                to_ms: i64::MAX / 1_000_000,
                after: Some(after),
                before: Some(before),
                max_rows: spec.capacity,
                max_bytes: limits.response_bytes(),
                deadline: tokio::time::Instant::now() + Duration::from_secs(limits.history_seconds),
            };
            let rows = match spec.source.range(request) {
                Some(rows) => rows.await,
                None => Err(PluginError::Source("the source read no history".into())),
            };
            rows
        })
    })
}

/// CheckHealth's verdict: every configured connection is made for real (credentials
/// included), each within [`HEALTH_TIMEOUT`], all at once; the message says what worked and
/// what failed, never a secret.
async fn health(settings: Option<&Settings>, channels: usize) -> (HealthStatus, String) {
    let checks =
        futures_util::future::join_all(crate::source::SOURCES.iter().map(|source| async move {
            match settings {
                // Secrets come out here, once for every source.
                Some(s) => match source.check(s, HEALTH_TIMEOUT) {
                    Some(check) => Some((*source, s.redact_outcome(check.await))),
                    None => None,
                },
                None => None,
            }
        }))
        .await;
    let outcomes: Vec<_> = checks.into_iter().flatten().collect();
    if outcomes.is_empty() {
        let names: Vec<&str> = crate::source::SOURCES
            .iter()
            .filter(|s| s.needs_connection())
            .map(|s| s.display_name())
            .collect();
        return (
            HealthStatus::Ok,
            format!(
                "Ringstream is working: no {} connection is configured, so only the signal \
                 source is available ({channels} live stream(s) open)",
                names.join(" or ")
            ),
        );
    }
    let mut ok = true;
    let mut parts = Vec::new();
    for (source, outcome) in outcomes {
        let name = source.display_name();
        match outcome {
            Ok(m) => parts.push(format!("{name}: {m}.")),
            Err(m) => {
                ok = false;
                parts.push(format!("{name} failed: {m}."));
            }
        }
    }
    let status = if ok {
        HealthStatus::Ok
    } else {
        HealthStatus::Error
    };
    (status, parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(updated_ms: i64, json: &str) -> pluginv2::PluginContext {
        pluginv2::PluginContext {
            org_id: 1,
            data_source_instance_settings: Some(pluginv2::DataSourceInstanceSettings {
                uid: "ds".into(),
                json_data: json.as_bytes().to_vec(),
                last_updated_ms: updated_ms,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn settings_are_parsed_once_per_version_and_old_versions_dropped() {
        let cache = SettingsCache::default();
        let a = cache
            .of(Some(&ctx(1, r#"{"mqttUrl":"mqtt://a"}"#)))
            .unwrap()
            .unwrap();
        // Same instance and version: the parsed settings, not the bytes, are what counts.
        let again = cache
            .of(Some(&ctx(1, r#"{"mqttUrl":"mqtt://b"}"#)))
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let newer = cache
            .of(Some(&ctx(2, r#"{"mqttUrl":"mqtt://b"}"#)))
            .unwrap()
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &newer));
        assert_eq!(
            crate::hub::lock(&cache.map).len(),
            1,
            "the old version is dropped"
        );
        // A broken version is remembered as broken.
        let err = cache
            .of(Some(&ctx(3, r#"{"mqttUrl":"http://x"}"#)))
            .unwrap_err();
        assert!(err.to_string().contains("mqttUrl"), "{err}");
        assert!(cache.of(Some(&ctx(3, r#"{}"#))).is_err());
    }
}
