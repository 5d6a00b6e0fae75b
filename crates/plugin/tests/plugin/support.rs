//! Test support: the plugin's services called in process the way Grafana calls them (with a
//! data source's settings in the plugin context), and a small panel model that applies the
//! packets as a streaming frame does (schema replaces the fields, keeping the values of
//! fields with the same name and type; data appends).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use grafana_plugin_sdk::pluginv2::{
    self, data_server::Data, diagnostics_server::Diagnostics, stream_server::Stream,
};
use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::service::RingstreamService;
use serde_json::Value as Json;
use tokio::sync::mpsc;

/// A service over a fresh hub with a short linger.
pub(crate) fn service() -> RingstreamService {
    RingstreamService::new(StreamHub::new(HubConfig {
        linger: Duration::from_secs(2),
        ..HubConfig::default()
    }))
}

/// A plugin context for data source `uid` with these settings.
pub(crate) fn ctx(
    uid: &str,
    updated_ms: i64,
    json: Json,
    secure: &[(&str, &str)],
) -> pluginv2::PluginContext {
    pluginv2::PluginContext {
        org_id: 1,
        plugin_id: ringstream_plugin::PLUGIN_ID.into(),
        data_source_instance_settings: Some(pluginv2::DataSourceInstanceSettings {
            uid: uid.into(),
            json_data: json.to_string().into_bytes(),
            decrypted_secure_json_data: secure
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            last_updated_ms: updated_ms,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// QueryData for one query: `Ok((channel path, rows, field names, notices))` or the
/// query's error text.
pub(crate) async fn query_data(
    service: &RingstreamService,
    ctx: &pluginv2::PluginContext,
    query: &Json,
) -> Result<(String, usize, Vec<String>), String> {
    let request = pluginv2::QueryDataRequest {
        plugin_context: Some(ctx.clone()),
        queries: vec![pluginv2::DataQuery {
            ref_id: "A".into(),
            json: query.to_string().into_bytes(),
            time_range: Some(pluginv2::TimeRange {
                from_epoch_ms: 0,
                to_epoch_ms: i64::MAX / 2_000_000,
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = service
        .query_data(tonic::Request::new(request))
        .await
        .expect("QueryData answers")
        .into_inner();
    let answer = &response.responses["A"];
    if !answer.error.is_empty() {
        return Err(answer.error.clone());
    }
    let reader =
        arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(&answer.frames[0]), None)
            .expect("an Arrow IPC frame");
    let schema = reader.schema();
    let channel = schema
        .metadata()
        .get("meta")
        .and_then(|m| serde_json::from_str::<Json>(m).ok())
        .and_then(|m| m["channel"].as_str().map(str::to_owned))
        .expect("meta.channel");
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let rows = reader.map(|b| b.expect("a record batch").num_rows()).sum();
    let path = channel
        .splitn(3, '/')
        .nth(2)
        .expect("ds/<uid>/<path>")
        .to_owned();
    Ok((path, rows, names))
}

/// SubscribeStream: the initial data, or `None` when refused.
pub(crate) async fn subscribe(
    service: &RingstreamService,
    ctx: &pluginv2::PluginContext,
    path: &str,
) -> Option<String> {
    let response = service
        .subscribe_stream(tonic::Request::new(pluginv2::SubscribeStreamRequest {
            plugin_context: Some(ctx.clone()),
            path: path.into(),
            ..Default::default()
        }))
        .await
        .expect("SubscribeStream answers")
        .into_inner();
    (response.status == 0).then(|| String::from_utf8(response.data).expect("UTF-8 JSON"))
}

/// A running RunStream: its packets arrive on a queue.
pub(crate) struct Run {
    packets: mpsc::UnboundedReceiver<Result<String, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.task.abort(); // Grafana cancels the stream
    }
}

/// RunStream for `path`.
pub(crate) async fn run_stream(
    service: &RingstreamService,
    ctx: &pluginv2::PluginContext,
    path: &str,
) -> Run {
    let mut stream = service
        .run_stream(tonic::Request::new(pluginv2::RunStreamRequest {
            plugin_context: Some(ctx.clone()),
            path: path.into(),
            ..Default::default()
        }))
        .await
        .expect("RunStream starts")
        .into_inner();
    let (tx, packets) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(packet) = stream.next().await {
            let item = packet
                .map(|p| String::from_utf8(p.data).expect("UTF-8 JSON"))
                .map_err(|s| s.message().to_owned());
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    Run { packets, task }
}

impl Run {
    /// Applies packets to `panel` until `done(panel)` holds; panics after `timeout`, showing
    /// the panel. Returns the number of packets applied.
    pub(crate) async fn until(
        &mut self,
        panel: &mut Panel,
        timeout: Duration,
        done: impl Fn(&Panel) -> bool,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        let mut n = 0;
        while !done(panel) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.packets.recv()).await {
                Ok(Some(Ok(packet))) => {
                    panel.push(&packet);
                    n += 1;
                }
                Ok(Some(Err(e))) => panic!("RunStream ended with an error: {e}"),
                Ok(None) => panic!("RunStream ended"),
                Err(_) => panic!("timed out after {timeout:?}; panel: {panel:#?}"),
            }
        }
        n
    }

    /// Packets that arrive within `window`, applied to `panel`.
    pub(crate) async fn drain(&mut self, panel: &mut Panel, window: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + window;
        let mut n = 0;
        while let Ok(Some(packet)) = tokio::time::timeout_at(deadline, self.packets.recv()).await {
            panel.push(&packet.expect("no RunStream error"));
            n += 1;
        }
        n
    }
}

/// CheckHealth: (status, message); status 1 is OK, 2 is ERROR.
pub(crate) async fn health(
    service: &RingstreamService,
    ctx: &pluginv2::PluginContext,
) -> (i32, String) {
    let r = service
        .check_health(tonic::Request::new(pluginv2::CheckHealthRequest {
            plugin_context: Some(ctx.clone()),
            ..Default::default()
        }))
        .await
        .expect("CheckHealth answers")
        .into_inner();
    (r.status, r.message)
}

/// One field of the panel's frame.
#[derive(Debug, Clone)]
pub(crate) struct PanelField {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) values: Vec<Json>,
}

/// What a panel shows for a channel.
#[derive(Debug, Default, Clone)]
pub(crate) struct Panel {
    pub(crate) fields: Vec<PanelField>,
    pub(crate) notices: Vec<String>,
    pub(crate) len: usize,
}

impl Panel {
    /// Applies a DataFrameJSON message.
    pub(crate) fn push(&mut self, msg: &str) {
        let msg: Json = serde_json::from_str(msg).expect("DataFrameJSON");
        if let Some(schema) = msg.get("schema") {
            self.notices = schema["meta"]["notices"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n["text"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let old = std::mem::take(&mut self.fields);
            for f in schema["fields"].as_array().expect("fields") {
                let name = f["name"].as_str().unwrap_or_default().to_owned();
                let kind = f["type"].as_str().unwrap_or_default().to_owned();
                let values = old
                    .iter()
                    .find(|o| o.name == name && o.kind == kind)
                    .map_or_else(|| vec![Json::Null; self.len], |o| o.values.clone());
                let labels = f["labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                self.fields.push(PanelField {
                    name,
                    kind,
                    labels,
                    values,
                });
            }
        }
        if let Some(values) = msg["data"]["values"].as_array() {
            assert_eq!(
                values.len(),
                self.fields.len(),
                "push message mismatch: {msg}"
            );
            for (field, column) in self.fields.iter_mut().zip(values) {
                field
                    .values
                    .extend(column.as_array().expect("a column").iter().cloned());
            }
            self.len = self.fields.first().map_or(0, |f| f.values.len());
        }
    }

    pub(crate) fn field(&self, name: &str) -> Option<&PanelField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The non-null values of field `name` as numbers.
    pub(crate) fn numbers(&self, name: &str) -> Vec<f64> {
        self.field(name)
            .map(|f| f.values.iter().filter_map(Json::as_f64).collect())
            .unwrap_or_default()
    }
}
