//! The plugin's gRPC services in this process, under tokio's paused time, called with the
//! requests [`PluginHost`](ringstream_harness::host::PluginHost) sends: what the property
//! and snapshot tests drive. Paused time makes every tick, row time and packet boundary
//! reproducible, and lets minutes of stream run in milliseconds; the network is left out
//! because paused time would fire connection timeouts.

use std::sync::Arc;

use futures_util::StreamExt;
use grafana_plugin_sdk::pluginv2::{self, data_server::Data as _, stream_server::Stream as _};
use ringstream_harness::host::{plugin_context, DataSourceSettings, Query, User};
use ringstream_harness::query_frame::QueryFrame;
use ringstream_plugin::clock::{Clock, TokioClock};
use ringstream_plugin::hub::{HubConfig, StreamHub};
use ringstream_plugin::service::RingstreamService;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::Request;

/// The paused clock's start: 2023-11-14T22:13:20Z, a multiple of every tick used.
pub(crate) const EPOCH_MS: i64 = 1_700_000_000_000;

/// A single-threaded runtime whose time only moves when every task waits.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
}

/// The services and the context every request carries.
pub(crate) struct InProc {
    svc: RingstreamService,
    ctx: pluginv2::PluginContext,
}

impl InProc {
    /// Services over a new hub whose clock reads [`EPOCH_MS`] now. Call inside the runtime.
    pub(crate) fn new() -> Self {
        Self::with_clock(Arc::new(TokioClock::starting_at(EPOCH_MS)))
    }

    /// Services over a new hub whose sources read `clock`.
    pub(crate) fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let hub = StreamHub::new(HubConfig {
            clock,
            ..HubConfig::default()
        });
        Self {
            svc: RingstreamService::new(hub),
            ctx: plugin_context(
                "seed-ringstream-datasource",
                &DataSourceSettings::default(),
                Some(&User::default()),
            ),
        }
    }

    /// The data source uid requests carry.
    pub(crate) fn uid(&self) -> String {
        DataSourceSettings::default().uid
    }

    /// QueryData with one query over `range`: its frame, or its status and error.
    pub(crate) async fn query(
        &self,
        json: Value,
        range: (i64, i64),
    ) -> Result<QueryFrame, (i32, String)> {
        let query = Query::new("A", json).with_time_range(range.0, range.1);
        let request = pluginv2::QueryDataRequest {
            plugin_context: Some(self.ctx.clone()),
            headers: Default::default(),
            queries: vec![query.to_proto("seed-ringstream-datasource", &self.uid())],
        };
        let mut response = self
            .svc
            .query_data(Request::new(request))
            .await
            .expect("QueryData answers")
            .into_inner();
        let r = response.responses.remove("A").expect("an answer for A");
        if !r.error.is_empty() {
            return Err((r.status, r.error));
        }
        Ok(QueryFrame::from_arrow_ipc(&r.frames[0]).expect("an Arrow frame"))
    }

    /// SubscribeStream: the status code and the initial data.
    pub(crate) async fn subscribe(&self, path: &str) -> (i32, Vec<u8>) {
        let request = pluginv2::SubscribeStreamRequest {
            plugin_context: Some(self.ctx.clone()),
            path: path.into(),
            data: Default::default(),
        };
        let r = self
            .svc
            .subscribe_stream(Request::new(request))
            .await
            .expect("SubscribeStream answers")
            .into_inner();
        (r.status, r.data)
    }

    /// RunStream, consumed by a task as Grafana consumes it: packets go into a queue the
    /// test drains.
    pub(crate) async fn run_stream(&self, path: &str) -> Runner {
        let request = pluginv2::RunStreamRequest {
            plugin_context: Some(self.ctx.clone()),
            path: path.into(),
            data: Default::default(),
        };
        let mut packets = self
            .svc
            .run_stream(Request::new(request))
            .await
            .expect("RunStream starts")
            .into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(packet) = packets.next().await {
                let packet = packet.expect("no RunStream error");
                if tx.send(packet.data).is_err() {
                    return;
                }
            }
        });
        Runner { task, rx }
    }
}

/// A RunStream being consumed.
pub(crate) struct Runner {
    task: JoinHandle<()>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Runner {
    /// The packets received so far, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(packet) = self.rx.try_recv() {
            out.push(packet);
        }
        out
    }

    /// Cancels the RunStream (dropping it, as Grafana's cancellation does) and returns the
    /// packets it sent before.
    pub(crate) async fn cancel(mut self) -> Vec<Vec<u8>> {
        self.task.abort();
        let _ = (&mut self.task).await;
        self.drain()
    }
}
