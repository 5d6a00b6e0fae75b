//! [`PluginHost`]: Grafana's side of the backend plugin protocol, for tests and previews.
//!
//! It starts a plugin executable exactly as Grafana does: a cleared environment (Grafana 12.4+
//! forwards no host variables) with go-plugin's magic cookie `grafana_plugin_type=datasource`,
//! `PLUGIN_PROTOCOL_VERSIONS=2` and the port range; it reads the handshake line
//! `1|2|tcp|ADDR|grpc` from the plugin's stdout, connects with the gRPC clients generated in
//! `grafana_plugin_sdk::pluginv2`, and keeps the plugin's log lines (stderr, and stdout after
//! the handshake) so tests can read them. Every request carries a `PluginContext` built from
//! the host's [`DataSourceSettings`] and [`User`], and every call has a timeout, so a
//! misbehaving plugin fails a test instead of hanging it.
//!
//! [`LivePanel`] drives one panel the way Grafana does (QueryData, subscribe to the frame's
//! channel, RunStream) into a [`Panel`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ringstream_harness::HarnessError> {
//! use ringstream_harness::host::{LivePanel, PluginHost, Query};
//! use ringstream_harness::panel::buffer_options;
//!
//! let host = PluginHost::start("target/debug/gpx_ringstream").await?;
//! let query = Query::new("A", serde_json::json!({ "signal": "counter", "tickMs": 100 }));
//! let mut live = LivePanel::open(&host, &query, buffer_options(1000, None, false)).await?;
//! live.next_packet(std::time::Duration::from_secs(5)).await?;
//! println!("{}", live.panel().to_table_tail(5));
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::Stream;
use grafana_plugin_sdk::pluginv2::{
    self, data_client::DataClient, diagnostics_client::DiagnosticsClient,
    resource_client::ResourceClient, stream_client::StreamClient,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tonic::transport::{Channel, Endpoint};

use crate::live::LiveOptions;
use crate::panel::Panel;
use crate::query_frame::QueryFrame;
use crate::wire::{self, DataFrameJson};
use crate::HarnessError;

/// The largest message Grafana reads from a plugin: go-plugin dials with gRPC's
/// `MaxCallRecvMsgSize(math.MaxInt32)` (hashicorp/go-plugin#117), so a plugin's answers are
/// not cut at gRPC's default 4 MiB; the plugin must bound them itself.
const GRAFANA_MAX_MESSAGE: usize = i32::MAX as usize;

/// Log lines kept per plugin process (the newest).
const MAX_LOG_LINES: usize = 2000;

/// How the host starts and calls the plugin.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The plugin id sent in every `PluginContext` (Grafana sends the plugin.json id).
    pub plugin_id: String,
    /// Extra environment for the plugin (e.g. `RUST_LOG`); everything else is cleared, as
    /// Grafana does.
    pub env: Vec<(String, String)>,
    /// How long the plugin may take to print its handshake line (Grafana waits a minute).
    pub handshake_timeout: Duration,
    /// How long one call may take before it fails with [`HarnessError::Timeout`].
    pub call_timeout: Duration,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            // plugin.json is the one place the id is written.
            plugin_id: serde_json::from_str::<Value>(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../plugin.json"
            )))
            .expect("plugin.json is JSON")["id"]
                .as_str()
                .expect("plugin.json has a string `id`")
                .into(),
            env: Vec::new(),
            handshake_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// The data source instance as Grafana stores it: the settings every request carries.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceSettings {
    /// The org the data source belongs to (uids are unique only within one).
    pub org_id: i64,
    /// The data source uid (the `<uid>` of `ds/<uid>/<path>` channels).
    pub uid: String,
    /// The data source name.
    pub name: String,
    /// `jsonData`, sent as JSON bytes.
    pub json_data: Value,
    /// Bytes sent instead of `json_data` when set: what a broken or hand-edited setting looks
    /// like to a plugin (not JSON, not an object, ...).
    pub raw_json_data: Option<Vec<u8>>,
    /// `decryptedSecureJsonData`.
    pub secure: HashMap<String, String>,
    /// `lastUpdated`, epoch milliseconds: Grafana changes it on every save, and a plugin may
    /// keep what it parsed of one version ([`PluginHost::set_settings`] moves it on).
    pub updated_ms: i64,
}

impl Default for DataSourceSettings {
    fn default() -> Self {
        Self {
            org_id: 1,
            uid: "ringstream-test".into(),
            name: "Ringstream".into(),
            json_data: Value::Object(serde_json::Map::new()),
            raw_json_data: None,
            secure: HashMap::new(),
            updated_ms: 1_700_000_000_000,
        }
    }
}

/// The user a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub login: String,
    /// Org role as Grafana sends it: `Admin`, `Editor`, `Viewer` or `None` (Grafana 10.2+).
    pub role: String,
}

impl Default for User {
    fn default() -> Self {
        Self {
            login: "admin".into(),
            role: "Admin".into(),
        }
    }
}

/// One query of a QueryData request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The refId (`A`, `B`, ...).
    pub ref_id: String,
    /// The query JSON as the panel saved it. When it is a JSON object, the host adds what
    /// Grafana's frontend adds (`refId`, `datasource`, `intervalMs`, `maxDataPoints`) before
    /// sending it; any other bytes are sent as they are.
    pub json: Vec<u8>,
    /// The time range `(from, to)` in epoch milliseconds; `None` is the last hour, ending now.
    pub time_range: Option<(i64, i64)>,
    /// The panel's `maxDataPoints`.
    pub max_data_points: i64,
    /// The panel's interval.
    pub interval_ms: i64,
}

impl Query {
    /// A query with `json`, the last hour, 1000 data points.
    pub fn new(ref_id: &str, json: Value) -> Self {
        Self::raw(ref_id, json.to_string().into_bytes())
    }

    /// A query whose JSON bytes are sent as they are (invalid JSON included).
    pub fn raw(ref_id: &str, json: impl Into<Vec<u8>>) -> Self {
        Self {
            ref_id: ref_id.into(),
            json: json.into(),
            time_range: None,
            max_data_points: 1000,
            interval_ms: 1000,
        }
    }

    /// The same query over `from..=to` (epoch milliseconds).
    pub fn with_time_range(mut self, from: i64, to: i64) -> Self {
        self.time_range = Some((from, to));
        self
    }

    /// The same query over the last hour and the next `ahead_ms` milliseconds: its frame
    /// holds every row the plugin has made by the time it answers, however late that is
    /// (a default range ends when the query was built, and rows made after that belong to
    /// the stream, not the frame).
    pub fn reaching_ahead(self, ahead_ms: i64) -> Self {
        let now = now_ms();
        self.with_time_range(now - 3_600_000, now + ahead_ms)
    }

    /// The same query with `maxDataPoints`.
    pub fn with_max_data_points(mut self, n: i64) -> Self {
        self.max_data_points = n;
        self
    }

    /// The query as Grafana sends it to the data source `uid` of plugin `plugin_id`.
    pub fn to_proto(&self, plugin_id: &str, uid: &str) -> pluginv2::DataQuery {
        let (from, to) = self.time_range.unwrap_or_else(|| {
            let now = now_ms();
            (now - 3_600_000, now)
        });
        let json = match serde_json::from_slice::<Value>(&self.json) {
            Ok(Value::Object(mut obj)) => {
                obj.entry("refId")
                    .or_insert_with(|| self.ref_id.clone().into());
                obj.entry("datasource")
                    .or_insert_with(|| serde_json::json!({ "type": plugin_id, "uid": uid }));
                obj.insert("intervalMs".into(), self.interval_ms.into());
                obj.insert("maxDataPoints".into(), self.max_data_points.into());
                Value::Object(obj).to_string().into_bytes()
            }
            _ => self.json.clone(),
        };
        pluginv2::DataQuery {
            ref_id: self.ref_id.clone(),
            max_data_points: self.max_data_points,
            interval_ms: self.interval_ms,
            time_range: Some(pluginv2::TimeRange {
                from_epoch_ms: from,
                to_epoch_ms: to,
            }),
            json,
            query_type: String::new(),
        }
    }
}

/// One query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The HTTP-like status the plugin set (0 when it set none).
    pub status: i32,
    /// The error, when the plugin set one.
    pub error: Option<String>,
    /// The frames, decoded from Arrow IPC.
    pub frames: Vec<QueryFrame>,
}

/// CheckHealth's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// `UNKNOWN` (or a value this harness does not know).
    Unknown,
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
}

/// CheckHealth's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// The message Grafana shows under "Save & test".
    pub message: String,
    /// `jsonDetails`, when present and JSON.
    pub details: Option<Value>,
}

/// The status of a SubscribeStream or PublishStream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// `OK`.
    Ok,
    /// `NOT_FOUND`.
    NotFound,
    /// `PERMISSION_DENIED`.
    PermissionDenied,
    /// A value the protocol does not define.
    Other(i32),
}

impl StreamStatus {
    fn from_proto(code: i32) -> Self {
        match code {
            0 => Self::Ok,
            1 => Self::NotFound,
            2 => Self::PermissionDenied,
            other => Self::Other(other),
        }
    }
}

/// SubscribeStream's (or PublishStream's) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReply {
    /// The status.
    pub status: StreamStatus,
    /// The initial data (a DataFrameJSON message), empty when none.
    pub data: Vec<u8>,
}

/// One RunStream packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The bytes as sent (DataFrameJSON text).
    pub text: String,
    /// The decoded message.
    pub message: DataFrameJson,
}

impl Packet {
    /// Decodes a packet's bytes.
    ///
    /// # Errors
    /// [`HarnessError::Decode`] for bytes that are not a DataFrameJSON message.
    pub fn decode(bytes: Vec<u8>) -> Result<Self, HarnessError> {
        let message = wire::decode_slice(&bytes)?;
        let text = String::from_utf8(bytes).unwrap_or_default(); // decode_slice checked UTF-8
        Ok(Self { text, message })
    }

    /// Rows the packet carries (its first column's length).
    pub fn rows(&self) -> usize {
        self.message
            .data
            .as_ref()
            .and_then(|d| d.values.first())
            .map_or(0, Vec::len)
    }
}

/// A running RunStream: the packets as they arrive. Dropping it cancels the call, as
/// Grafana does when the last subscriber leaves.
#[derive(Debug)]
pub struct RunStream {
    path: String,
    inner: tonic::Streaming<pluginv2::StreamPacket>,
}

impl RunStream {
    /// The channel path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next packet; `Ok(None)` when the plugin ended the stream cleanly.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] when none arrives within `timeout`, [`HarnessError::Rpc`]
    /// when the stream ends with an error (the plugin failed or went away), a decoding error
    /// for a packet that is not DataFrameJSON.
    pub async fn next_within(&mut self, timeout: Duration) -> Result<Option<Packet>, HarnessError> {
        match tokio::time::timeout(timeout, self.inner.message()).await {
            Err(_) => Err(HarnessError::Timeout(format!(
                "no RunStream packet on {:?} within {timeout:?}",
                self.path
            ))),
            Ok(Err(status)) => Err(HarnessError::rpc("RunStream", &status)),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(packet))) => Packet::decode(packet.data).map(Some),
        }
    }
}

impl Stream for RunStream {
    type Item = Result<Packet, HarnessError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|r| match r {
                Ok(packet) => Packet::decode(packet.data),
                Err(status) => Err(HarnessError::rpc("RunStream", &status)),
            })
        })
    }
}

/// The newest log lines of the plugin processes a host started.
type Logs = Arc<Mutex<VecDeque<String>>>;

fn push_log(logs: &Logs, line: String) {
    let mut logs = logs.lock().unwrap_or_else(PoisonError::into_inner);
    if logs.len() == MAX_LOG_LINES {
        logs.pop_front();
    }
    logs.push_back(line);
}

/// A running plugin process and the gRPC channel to it.
#[derive(Debug)]
struct Process {
    child: Child,
    addr: String,
    channel: Channel,
}

/// A plugin executable, started and called as Grafana does (see the [module docs](self)).
/// Dropping the host kills the plugin.
#[derive(Debug)]
pub struct PluginHost {
    exe: PathBuf,
    options: HostOptions,
    settings: DataSourceSettings,
    user: Option<User>,
    process: Option<Process>,
    logs: Logs,
}

impl PluginHost {
    /// Starts `exe` with the default [`HostOptions`].
    ///
    /// # Errors
    /// [`HarnessError::Launch`], [`HarnessError::Handshake`] or [`HarnessError::Transport`].
    pub async fn start(exe: impl AsRef<Path>) -> Result<Self, HarnessError> {
        Self::start_with(exe, HostOptions::default()).await
    }

    /// Starts `exe` with `options`.
    ///
    /// # Errors
    /// [`HarnessError::Launch`] when it cannot be run, [`HarnessError::Handshake`] when it
    /// does not print a usable handshake line in time (it is killed then),
    /// [`HarnessError::Transport`] when its address does not accept the connection.
    pub async fn start_with(
        exe: impl AsRef<Path>,
        options: HostOptions,
    ) -> Result<Self, HarnessError> {
        let mut host = Self {
            exe: exe.as_ref().to_path_buf(),
            options,
            settings: DataSourceSettings::default(),
            user: Some(User::default()),
            process: None,
            logs: Arc::new(Mutex::new(VecDeque::new())),
        };
        host.process = Some(host.spawn().await?);
        Ok(host)
    }

    async fn spawn(&self) -> Result<Process, HarnessError> {
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.env_clear();
        // Windows cannot open sockets without SYSTEMROOT; Grafana keeps it too.
        if let Some(root) = std::env::var_os("SYSTEMROOT") {
            cmd.env("SYSTEMROOT", root);
        }
        cmd.env("grafana_plugin_type", "datasource")
            .env("PLUGIN_PROTOCOL_VERSIONS", "2")
            .env("PLUGIN_MIN_PORT", "10000")
            .env("PLUGIN_MAX_PORT", "25000")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| HarnessError::Launch {
            exe: self.exe.clone(),
            source,
        })?;
        if let Some(stderr) = child.stderr.take() {
            let logs = Arc::clone(&self.logs);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    push_log(&logs, line);
                }
            });
        }
        let Some(stdout) = child.stdout.take() else {
            return Err(HarnessError::Handshake("no stdout pipe".into()));
        };
        let mut stdout = BufReader::new(stdout).lines();
        let waited = tokio::time::timeout(self.options.handshake_timeout, stdout.next_line()).await;
        let line = match waited {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None) | Err(_)) => {
                let status = child.wait().await.ok();
                return Err(HarnessError::Handshake(format!(
                    "{} exited ({}) before printing its handshake line{}",
                    self.exe.display(),
                    status.map_or("unknown status".into(), |s| s.to_string()),
                    self.log_tail_note()
                )));
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(HarnessError::Handshake(format!(
                    "{} printed no handshake line within {:?}{}",
                    self.exe.display(),
                    self.options.handshake_timeout,
                    self.log_tail_note()
                )));
            }
        };
        let addr = match parse_handshake(&line) {
            Ok(addr) => addr,
            Err(why) => {
                let _ = child.kill().await;
                return Err(HarnessError::Handshake(why));
            }
        };
        // go-plugin keeps reading the plugin's stdout; a plugin whose pipe fills up blocks.
        let logs = Arc::clone(&self.logs);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                push_log(&logs, format!("stdout: {line}"));
            }
        });
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(10));
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => {
                let _ = child.kill().await;
                return Err(e.into());
            }
        };
        Ok(Process {
            child,
            addr,
            channel,
        })
    }

    fn log_tail_note(&self) -> String {
        let logs = self.logs();
        if logs.is_empty() {
            return String::new();
        }
        let tail: Vec<_> = logs.iter().rev().take(10).rev().cloned().collect();
        format!("; its last log lines:\n{}", tail.join("\n"))
    }

    /// The executable.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// The plugin process's resident memory and its peak so far, in bytes (`VmRSS` and
    /// `VmHWM` of `/proc/<pid>/status`); `None` where there is no such file (not Linux) or
    /// the plugin is not running.
    pub fn memory(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line[key.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
    }

    /// The address the plugin serves on, while it runs.
    pub fn addr(&self) -> Option<&str> {
        self.process.as_ref().map(|p| p.addr.as_str())
    }

    /// The plugin's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.child.id())
    }

    /// The data source settings requests carry.
    pub fn settings(&self) -> &DataSourceSettings {
        &self.settings
    }

    /// Replaces the data source settings, as saving the data source page does: a new
    /// `lastUpdated` with it.
    pub fn set_settings(&mut self, mut settings: DataSourceSettings) {
        settings.updated_ms = settings.updated_ms.max(self.settings.updated_ms) + 1;
        self.settings = settings;
    }

    /// Sets the user requests come from (`None`: a request Grafana itself makes).
    pub fn set_user(&mut self, user: Option<User>) {
        self.user = user;
    }

    /// The newest log lines of every process this host started (stderr, and stdout lines
    /// after the handshake prefixed `stdout: `), oldest first.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Kills the plugin (as a crash would) and waits for it to exit. Calls fail until
    /// [`restart`](Self::restart).
    ///
    /// # Errors
    /// When waiting for the process fails.
    pub async fn kill(&mut self) -> Result<(), HarnessError> {
        if let Some(mut process) = self.process.take() {
            process
                .child
                .kill()
                .await
                .map_err(|source| HarnessError::Launch {
                    exe: self.exe.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Kills the plugin if it runs and starts it again, as Grafana does after a crash.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill().await?;
        self.process = Some(self.spawn().await?);
        Ok(())
    }

    /// Whether the plugin process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    fn channel(&self) -> Result<Channel, HarnessError> {
        self.process
            .as_ref()
            .map(|p| p.channel.clone())
            .ok_or_else(|| HarnessError::Protocol("the plugin is not running".into()))
    }

    /// The `PluginContext` Grafana sends with every call.
    pub fn plugin_context(&self) -> pluginv2::PluginContext {
        plugin_context(&self.options.plugin_id, &self.settings, self.user.as_ref())
    }

    /// A caller with this host's data source settings and user.
    ///
    /// # Errors
    /// When the plugin is not running.
    pub fn caller(&self) -> Result<Caller, HarnessError> {
        self.caller_as(self.settings.clone(), self.user.clone())
    }

    /// A caller for another data source or user of the same Grafana: requests from other
    /// orgs, users and data sources to the same plugin process, side by side.
    ///
    /// # Errors
    /// When the plugin is not running.
    pub fn caller_as(
        &self,
        settings: DataSourceSettings,
        user: Option<User>,
    ) -> Result<Caller, HarnessError> {
        Ok(Caller {
            channel: self.channel()?,
            plugin_id: self.options.plugin_id.clone(),
            call_timeout: self.options.call_timeout,
            settings,
            user,
        })
    }

    /// CheckHealth ("Save & test"); see [`Caller::check_health`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn check_health(&self) -> Result<Health, HarnessError> {
        self.caller()?.check_health().await
    }

    /// QueryData; see [`Caller::query_data`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn query_data(
        &self,
        queries: &[Query],
    ) -> Result<HashMap<String, QueryResult>, HarnessError> {
        self.caller()?.query_data(queries).await
    }

    /// QueryData as an alert rule's evaluation; see [`Caller::query_data_as_alert`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn query_data_as_alert(
        &self,
        queries: &[Query],
        rule_uid: &str,
    ) -> Result<HashMap<String, QueryResult>, HarnessError> {
        self.caller()?.query_data_as_alert(queries, rule_uid).await
    }

    /// SubscribeStream; see [`Caller::subscribe`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn subscribe(&self, path: &str) -> Result<StreamReply, HarnessError> {
        self.caller()?.subscribe(path).await
    }

    /// RunStream; see [`Caller::run_stream`].
    ///
    /// # Errors
    /// When the call is refused.
    pub async fn run_stream(&self, path: &str) -> Result<RunStream, HarnessError> {
        self.caller()?.run_stream(path).await
    }

    /// CallResource; see [`Caller::call_resource`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn call_resource(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<(u16, Value), HarnessError> {
        self.caller()?.call_resource(method, url, body).await
    }

    /// PublishStream; see [`Caller::publish`].
    ///
    /// # Errors
    /// When the call fails.
    pub async fn publish(&self, path: &str, data: &[u8]) -> Result<StreamReply, HarnessError> {
        self.caller()?.publish(path, data).await
    }
}

/// One Grafana identity calling a running plugin: the data source and user of every request
/// it sends, every call under the host's timeout. Cheap to clone; many callers share one
/// plugin process, as the orgs, users and data sources of one Grafana share one plugin.
#[derive(Debug, Clone)]
pub struct Caller {
    channel: Channel,
    plugin_id: String,
    call_timeout: Duration,
    settings: DataSourceSettings,
    user: Option<User>,
}

impl Caller {
    /// The data source settings this caller's requests carry.
    pub fn settings(&self) -> &DataSourceSettings {
        &self.settings
    }

    /// The `PluginContext` this caller sends.
    pub fn plugin_context(&self) -> pluginv2::PluginContext {
        plugin_context(&self.plugin_id, &self.settings, self.user.as_ref())
    }

    async fn timed<T>(
        &self,
        call: &'static str,
        fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, HarnessError> {
        match tokio::time::timeout(self.call_timeout, fut).await {
            Err(_) => Err(HarnessError::Timeout(format!(
                "{call} took longer than {:?}",
                self.call_timeout
            ))),
            Ok(Err(status)) => Err(HarnessError::rpc(call, &status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    /// CheckHealth ("Save & test").
    ///
    /// # Errors
    /// When the call fails.
    pub async fn check_health(&self) -> Result<Health, HarnessError> {
        let mut client = DiagnosticsClient::new(self.channel.clone())
            .max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::CheckHealthRequest {
            plugin_context: Some(self.plugin_context()),
            headers: HashMap::new(),
        };
        let r = self
            .timed("CheckHealth", client.check_health(request))
            .await?;
        Ok(Health {
            status: match r.status {
                1 => HealthStatus::Ok,
                2 => HealthStatus::Error,
                _ => HealthStatus::Unknown,
            },
            message: r.message,
            details: serde_json::from_slice(&r.json_details).ok(),
        })
    }

    /// QueryData with `queries`; the answers by refId.
    ///
    /// # Errors
    /// When the call fails (the whole request, not one query: a query's error is in its
    /// [`QueryResult`]), or a frame is not valid Arrow.
    pub async fn query_data(
        &self,
        queries: &[Query],
    ) -> Result<HashMap<String, QueryResult>, HarnessError> {
        self.query_data_with(queries, HashMap::new()).await
    }

    /// QueryData as Grafana's alerting sends it: the headers of an evaluation
    /// (`FromAlert: true`, `X-Cache-Skip`, the rule's uid), as the scheduler's user.
    ///
    /// # Errors
    /// As [`Caller::query_data`].
    pub async fn query_data_as_alert(
        &self,
        queries: &[Query],
        rule_uid: &str,
    ) -> Result<HashMap<String, QueryResult>, HarnessError> {
        let headers = HashMap::from([
            ("FromAlert".to_owned(), "true".to_owned()),
            ("X-Cache-Skip".to_owned(), "true".to_owned()),
            ("http_X-Rule-Uid".to_owned(), rule_uid.to_owned()),
            (
                "X-Grafana-Org-Id".to_owned(),
                self.settings.org_id.to_string(),
            ),
        ]);
        self.query_data_with(queries, headers).await
    }

    async fn query_data_with(
        &self,
        queries: &[Query],
        headers: HashMap<String, String>,
    ) -> Result<HashMap<String, QueryResult>, HarnessError> {
        let mut client =
            DataClient::new(self.channel.clone()).max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::QueryDataRequest {
            plugin_context: Some(self.plugin_context()),
            headers,
            queries: queries
                .iter()
                .map(|q| q.to_proto(&self.plugin_id, &self.settings.uid))
                .collect(),
        };
        let response = self.timed("QueryData", client.query_data(request)).await?;
        response
            .responses
            .into_iter()
            .map(|(ref_id, r)| {
                let frames = r
                    .frames
                    .iter()
                    .map(|bytes| QueryFrame::from_arrow_ipc(bytes))
                    .collect::<Result<_, _>>()?;
                let result = QueryResult {
                    status: r.status,
                    error: (!r.error.is_empty()).then_some(r.error),
                    frames,
                };
                Ok((ref_id, result))
            })
            .collect()
    }

    /// SubscribeStream for `path` (the part of `ds/<uid>/<path>` after the uid).
    ///
    /// # Errors
    /// When the call fails.
    pub async fn subscribe(&self, path: &str) -> Result<StreamReply, HarnessError> {
        let mut client =
            StreamClient::new(self.channel.clone()).max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::SubscribeStreamRequest {
            plugin_context: Some(self.plugin_context()),
            path: path.into(),
            data: Default::default(),
        };
        let r = self
            .timed("SubscribeStream", client.subscribe_stream(request))
            .await?;
        Ok(StreamReply {
            status: StreamStatus::from_proto(r.status),
            data: r.data,
        })
    }

    /// RunStream for `path`: the packets as they come (Grafana sends no request data).
    ///
    /// # Errors
    /// When the call is refused (e.g. `NotFound` for a bad path).
    pub async fn run_stream(&self, path: &str) -> Result<RunStream, HarnessError> {
        let mut client =
            StreamClient::new(self.channel.clone()).max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::RunStreamRequest {
            plugin_context: Some(self.plugin_context()),
            path: path.into(),
            data: Default::default(),
        };
        let inner = self.timed("RunStream", client.run_stream(request)).await?;
        Ok(RunStream {
            path: path.into(),
            inner,
        })
    }

    /// CallResource as Grafana forwards `/api/datasources/uid/<uid>/resources/<url>`:
    /// `url` is the resource path with its query string. The status and the body (JSON,
    /// `Null` when empty or not JSON).
    ///
    /// # Errors
    /// When the call fails or answers nothing.
    pub async fn call_resource(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<(u16, Value), HarnessError> {
        let mut client = ResourceClient::new(self.channel.clone())
            .max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::CallResourceRequest {
            plugin_context: Some(self.plugin_context()),
            path: url.split('?').next().unwrap_or(url).to_owned(),
            method: method.to_owned(),
            url: url.to_owned(),
            headers: HashMap::new(),
            body: body.to_vec().into(),
        };
        let mut stream = self
            .timed("CallResource", client.call_resource(request))
            .await?;
        let first = tokio::time::timeout(self.call_timeout, stream.message())
            .await
            .map_err(|_| HarnessError::Timeout("CallResource sent no answer".into()))?
            .map_err(|s| HarnessError::rpc("CallResource", &s))?
            .ok_or_else(|| HarnessError::Protocol("CallResource ended without an answer".into()))?;
        let status = u16::try_from(first.code).unwrap_or(0);
        Ok((
            status,
            serde_json::from_slice(&first.body).unwrap_or(Value::Null),
        ))
    }

    /// PublishStream: a viewer sending `data` on the channel.
    ///
    /// # Errors
    /// When the call fails.
    pub async fn publish(&self, path: &str, data: &[u8]) -> Result<StreamReply, HarnessError> {
        let mut client =
            StreamClient::new(self.channel.clone()).max_decoding_message_size(GRAFANA_MAX_MESSAGE);
        let request = pluginv2::PublishStreamRequest {
            plugin_context: Some(self.plugin_context()),
            path: path.into(),
            data: data.to_vec(),
        };
        let r = self
            .timed("PublishStream", client.publish_stream(request))
            .await?;
        Ok(StreamReply {
            status: StreamStatus::from_proto(r.status),
            data: r.data,
        })
    }
}

/// Parses go-plugin's handshake `CORE|APP|NETWORK|ADDR|PROTOCOL` as Grafana's plugin
/// manager accepts it: core protocol 1, app protocol 2, TCP, gRPC. Returns the address.
fn parse_handshake(line: &str) -> Result<String, String> {
    let shown: String = line.chars().take(120).collect();
    let parts: Vec<&str> = line.trim().split('|').collect();
    let [core, app, network, addr, protocol] = parts.as_slice() else {
        return Err(format!(
            "expected `1|2|tcp|ADDR|grpc` as the first stdout line, got {shown:?}"
        ));
    };
    if *core != "1" {
        return Err(format!(
            "core protocol {core:?}, Grafana speaks 1 ({shown:?})"
        ));
    }
    if *app != "2" {
        return Err(format!(
            "plugin protocol {app:?}, Grafana asked for 2 ({shown:?})"
        ));
    }
    if *network != "tcp" {
        return Err(format!(
            "network {network:?}: this harness connects over tcp only ({shown:?})"
        ));
    }
    if *protocol != "grpc" {
        return Err(format!(
            "protocol {protocol:?}: Grafana needs grpc ({shown:?})"
        ));
    }
    if addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(format!("address {addr:?} is not host:port ({shown:?})"));
    }
    Ok((*addr).to_owned())
}

/// The `PluginContext` Grafana sends for a data source of plugin `plugin_id` with
/// `settings`, on behalf of `user` (`None`: a request Grafana itself makes). Public so that
/// in-process tests of a plugin's services send what the host sends.
pub fn plugin_context(
    plugin_id: &str,
    settings: &DataSourceSettings,
    user: Option<&User>,
) -> pluginv2::PluginContext {
    pluginv2::PluginContext {
        org_id: settings.org_id,
        plugin_id: plugin_id.to_owned(),
        user: user.map(|u| pluginv2::User {
            login: u.login.clone(),
            name: u.login.clone(),
            email: format!("{}@example.com", u.login),
            role: u.role.clone(),
        }),
        app_instance_settings: None,
        data_source_instance_settings: Some(pluginv2::DataSourceInstanceSettings {
            id: 1,
            uid: settings.uid.clone(),
            name: settings.name.clone(),
            json_data: settings
                .raw_json_data
                .clone()
                .unwrap_or_else(|| settings.json_data.to_string().into_bytes()),
            decrypted_secure_json_data: settings.secure.clone(),
            last_updated_ms: settings.updated_ms,
            ..Default::default()
        }),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The `<path>` of a channel id `ds/<uid>/<path>`, checked against the data source uid.
///
/// # Errors
/// [`HarnessError::Protocol`] when the channel is not a `ds` channel of that data source.
pub fn channel_path<'a>(channel: &'a str, uid: &str) -> Result<&'a str, HarnessError> {
    let rest = channel
        .strip_prefix("ds/")
        .and_then(|r| r.strip_prefix(uid))
        .and_then(|r| r.strip_prefix('/'))
        .filter(|p| !p.is_empty());
    rest.ok_or_else(|| {
        HarnessError::Protocol(format!(
            "frame channel {channel:?} is not ds/{uid}/<path>: Grafana would not route it to this data source"
        ))
    })
}

/// One panel with one streaming query, driven as Grafana drives it: QueryData, the panel
/// buffer fed the query frame, SubscribeStream on the frame's channel and its initial data,
/// then RunStream's packets (see [`crate::panel`]).
#[derive(Debug)]
pub struct LivePanel {
    panel: Panel,
    path: String,
    stream: Option<RunStream>,
    packets: usize,
}

impl LivePanel {
    /// Runs `query` on `host` and opens its stream.
    ///
    /// # Errors
    /// A failed call; [`HarnessError::Protocol`] when the query fails, returns no frame or a
    /// frame without a channel of this data source, or the subscription is refused.
    pub async fn open(
        host: &PluginHost,
        query: &Query,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        Self::open_as(&host.caller()?, query, options).await
    }

    /// [`LivePanel::open`] for another caller of the same plugin (another org, user or data
    /// source).
    ///
    /// # Errors
    /// As [`LivePanel::open`].
    pub async fn open_as(
        caller: &Caller,
        query: &Query,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        let mut results = caller.query_data(std::slice::from_ref(query)).await?;
        let result = results.remove(&query.ref_id).ok_or_else(|| {
            HarnessError::Protocol(format!("no answer for refId {:?}", query.ref_id))
        })?;
        if let Some(error) = result.error {
            return Err(HarnessError::Protocol(format!(
                "query {:?} failed (status {}): {error}",
                query.ref_id, result.status
            )));
        }
        let frame = result.frames.first().ok_or_else(|| {
            HarnessError::Protocol(format!("query {:?} returned no frame", query.ref_id))
        })?;
        Self::from_query_frame_as(caller, frame, options).await
    }

    /// Opens the stream of a frame QueryData returned: a panel buffer with the frame pushed,
    /// subscribed to the frame's channel, with a RunStream.
    ///
    /// # Errors
    /// [`HarnessError::Protocol`] for a frame without a channel of the host's data source
    /// or a refused subscription; a failed call.
    pub async fn from_query_frame(
        host: &PluginHost,
        frame: &QueryFrame,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        Self::from_query_frame_as(&host.caller()?, frame, options).await
    }

    async fn from_query_frame_as(
        caller: &Caller,
        frame: &QueryFrame,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        let channel = frame.channel().ok_or_else(|| {
            HarnessError::Protocol(format!(
                "the frame of query {:?} has no meta.channel: nothing to stream",
                frame.ref_id
            ))
        })?;
        let path = channel_path(channel, &caller.settings().uid)?.to_owned();
        let panel = Panel::with_query_frame(frame, options)?;
        Self::subscribe_and_run(caller, panel, path).await
    }

    /// A panel subscribing to `path` without having run a query (a second browser tab on the
    /// same channel, or a dashboard that streams only).
    ///
    /// # Errors
    /// A failed call, or a refused subscription.
    pub async fn subscribe_only(
        host: &PluginHost,
        path: &str,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        Self::subscribe_and_run(&host.caller()?, Panel::new(options), path.to_owned()).await
    }

    async fn subscribe_and_run(
        caller: &Caller,
        mut panel: Panel,
        path: String,
    ) -> Result<Self, HarnessError> {
        let reply = caller.subscribe(&path).await?;
        if reply.status != StreamStatus::Ok {
            return Err(HarnessError::Protocol(format!(
                "subscribing to {path:?} was refused: {:?}",
                reply.status
            )));
        }
        panel.push_initial(&reply.data)?;
        let stream = caller.run_stream(&path).await?;
        Ok(Self {
            panel,
            path,
            stream: Some(stream),
            packets: 0,
        })
    }

    /// What the panel shows.
    pub fn panel(&self) -> &Panel {
        &self.panel
    }

    /// The channel path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Packets received so far.
    pub fn packets(&self) -> usize {
        self.packets
    }

    /// Waits for the next packet and pushes it into the panel; returns it, or `None` when
    /// the stream ended cleanly or was cancelled.
    ///
    /// # Errors
    /// As [`RunStream::next_within`], or a packet the panel's buffer refuses.
    pub async fn next_packet(&mut self, timeout: Duration) -> Result<Option<Packet>, HarnessError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let Some(packet) = stream.next_within(timeout).await? else {
            self.stream = None;
            return Ok(None);
        };
        self.packets += 1;
        self.panel.push_packet(&packet.message)?;
        Ok(Some(packet))
    }

    /// Pushes packets until `done(panel)` holds, for at most `timeout` in all.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] when it does not hold in time; what
    /// [`next_packet`](Self::next_packet) returns; [`HarnessError::Protocol`] when the stream
    /// ends first.
    pub async fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Panel) -> bool,
    ) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.panel) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(HarnessError::Timeout(format!(
                    "the panel on {:?} did not reach the expected state within {timeout:?} ({} rows)",
                    self.path,
                    self.panel.len()
                )));
            }
            if self.next_packet(left).await?.is_none() {
                return Err(HarnessError::Protocol(format!(
                    "the RunStream on {:?} ended",
                    self.path
                )));
            }
        }
        Ok(())
    }

    /// Cancels the RunStream (Grafana does when the last subscriber leaves).
    pub fn cancel(&mut self) {
        self.stream = None;
    }

    /// Starts a new RunStream on the panel's path, as Grafana does after an error or when a
    /// subscriber comes back; the panel keeps its buffer.
    ///
    /// # Errors
    /// When the call is refused.
    pub async fn rerun(&mut self, host: &PluginHost) -> Result<(), HarnessError> {
        self.stream = Some(host.run_stream(&self.path).await?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_handshake_grafana_accepts() {
        assert_eq!(
            parse_handshake("1|2|tcp|127.0.0.1:1234|grpc\n").unwrap(),
            "127.0.0.1:1234"
        );
        for bad in [
            "",
            "hello",
            "1|1|tcp|127.0.0.1:1|grpc",
            "2|2|tcp|127.0.0.1:1|grpc",
            "1|2|unix|/tmp/sock|grpc",
            "1|2|tcp|127.0.0.1:1|netrpc",
            "1|2|tcp|nowhere|grpc",
            "1|2|tcp|127.0.0.1:1|grpc|extra",
        ] {
            assert!(parse_handshake(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn splits_channel_ids() {
        assert_eq!(channel_path("ds/abc/v1/x=1", "abc").unwrap(), "v1/x=1");
        assert!(channel_path("ds/other/v1", "abc").is_err());
        assert!(channel_path("plugin/abc/v1", "abc").is_err());
        assert!(channel_path("ds/abc/", "abc").is_err());
        assert!(channel_path("ds/abcd/v1", "abc").is_err());
    }

    #[test]
    fn adds_what_the_frontend_adds_to_object_queries() {
        let q = Query::new("B", serde_json::json!({"signal": "sine"})).with_time_range(1, 2);
        let proto = q.to_proto("p-datasource", "uid1");
        let json: Value = serde_json::from_slice(&proto.json).unwrap();
        assert_eq!(json["signal"], "sine");
        assert_eq!(json["refId"], "B");
        assert_eq!(json["datasource"]["uid"], "uid1");
        assert_eq!(json["maxDataPoints"], 1000);
        assert_eq!(proto.time_range.unwrap().to_epoch_ms, 2);
        // Bytes that are not a JSON object go as they are.
        let raw = Query::raw("C", "{\"signal\":").to_proto("p", "u");
        assert_eq!(raw.json, b"{\"signal\":");
    }
}
