//! The WebSocket source against a real, in-process WebSocket server (tokio-tungstenite),
//! through the plugin's services.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{self, query_data, run_stream, subscribe, Panel};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
enum Command {
    Send(String),
    CloseAll,
}

/// Handshakes seen: the request's path and query, and its `Authorization` header.
type Handshakes = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A WebSocket server on a free loopback port. Every handshake is recorded (path and
/// `Authorization` header); with a `token`, handshakes without `Bearer <token>` get 401.
struct WsServer {
    port: u16,
    handshakes: Handshakes,
    commands: broadcast::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsServer {
    async fn start(token: Option<&str>) -> WsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let (commands, _) = broadcast::channel(1024);
        let expected = token.map(|t| format!("Bearer {t}"));
        let (seen, tx) = (Arc::clone(&handshakes), commands.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, mut rx, expected) =
                    (Arc::clone(&seen), tx.subscribe(), expected.clone());
                tokio::spawn(async move {
                    #[allow(clippy::result_large_err)] // tungstenite's callback signature
                    let callback =
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let uri = req.uri().to_string();
                            let refused = expected.is_some() && auth != expected;
                            seen.lock().unwrap().push((uri, auth));
                            if refused {
                                let mut r = ErrorResponse::new(Some("no".into()));
                                *r.status_mut() = StatusCode::UNAUTHORIZED;
                                return Err(r);
                            }
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(socket, callback).await
                    else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            cmd = rx.recv() => match cmd {
                                Ok(Command::Send(text)) => {
                                    if ws.send(Message::Text(text)).await.is_err() { return; }
                                }
                                Ok(Command::CloseAll) | Err(_) => {
                                    let _ = ws.close(None).await;
                                    return;
                                }
                            },
                            msg = ws.next() => if msg.is_none() { return },
                        }
                    }
                });
            }
        });
        WsServer {
            port,
            handshakes,
            commands,
            task,
        }
    }

    fn send(&self, text: &str) {
        let _ = self.commands.send(Command::Send(text.to_owned()));
    }

    fn close_all(&self) {
        let _ = self.commands.send(Command::CloseAll);
    }

    fn handshakes(&self) -> Vec<(String, Option<String>)> {
        self.handshakes.lock().unwrap().clone()
    }

    /// Waits until `n` handshakes happened.
    async fn wait_handshakes(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.handshakes().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} handshakes, wanted {n}",
                self.handshakes().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The client side of the last handshake finishes right after the server's.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_messages_become_rows_with_the_configured_headers_on_the_configured_host() {
    let server = WsServer::start(Some("s3cret-token")).await;
    let service = support::service();
    let ctx = support::ctx(
        "ws-feed",
        1,
        json!({"websocketUrl": format!("ws://127.0.0.1:{}/api?v=2", server.port), "httpHeaderName1": "Authorization"}),
        &[("httpHeaderValue1", "Bearer s3cret-token")],
    );
    let query =
        json!({"source": "websocket", "path": "/prices?symbol=BTC", "timePath": "E", "tickMs": 20});
    let (path, _, _) = query_data(&service, &ctx, &query).await.unwrap();
    let mut panel = Panel::default();
    panel.push(&subscribe(&service, &ctx, &path).await.unwrap());
    let mut run = run_stream(&service, &ctx, &path).await;
    server.wait_handshakes(1).await;
    assert_eq!(
        server.handshakes()[0],
        (
            "/api/prices?v=2&symbol=BTC".to_owned(),
            Some("Bearer s3cret-token".to_owned())
        ),
        "the query's path is appended to the data source's URL, with its headers"
    );

    server.send(r#"{"E":1700000000123,"p":"42000.5","q":0.25,"m":true}"#);
    server.send("not json at all");
    server.send(r#"{"E":1700000000456,"p":42001,"q":0.5,"m":false}"#);
    run.until(&mut panel, WAIT, |p| p.len == 3).await;
    let times = panel.numbers("time");
    assert_eq!(
        (times[0], times[2]),
        (1_700_000_000_123.0, 1_700_000_000_456.0)
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    assert!(
        (now_ms - times[1]).abs() < 60_000.0,
        "no timestamp: the arrival time"
    );
    assert_eq!(
        panel.field("p").unwrap().kind,
        "string",
        "first value decides"
    );
    assert_eq!(panel.field("q").unwrap().kind, "number");
    assert_eq!(
        panel.field("value").unwrap().values[1],
        json!("not json at all")
    );
    assert_eq!(
        panel.field("p").unwrap().values[2],
        json!("42001"),
        "a number into a string field"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_made_again_and_the_stream_goes_on() {
    let server = WsServer::start(None).await;
    let service = support::service();
    let ctx = support::ctx(
        "ws-re",
        1,
        json!({"websocketUrl": format!("ws://127.0.0.1:{}", server.port)}),
        &[],
    );
    let query = json!({"source": "websocket", "path": "/feed", "tickMs": 20});
    let (path, _, _) = query_data(&service, &ctx, &query).await.unwrap();
    let mut panel = Panel::default();
    panel.push(&subscribe(&service, &ctx, &path).await.unwrap());
    let mut run = run_stream(&service, &ctx, &path).await;
    server.wait_handshakes(1).await;
    server.send(r#"{"n":1}"#);
    run.until(&mut panel, WAIT, |p| p.len == 1).await;

    server.close_all();
    run.until(&mut panel, WAIT, |p| {
        p.notices.iter().any(|n| n.contains("lost at"))
    })
    .await;
    let closed = Instant::now();
    server.wait_handshakes(2).await;
    assert!(
        closed.elapsed() < Duration::from_secs(5),
        "reconnected in {:?}",
        closed.elapsed()
    );
    server.send(r#"{"n":2}"#);
    run.until(&mut panel, WAIT, |p| p.len == 2).await;
    assert_eq!(panel.numbers("n"), [1.0, 2.0]);
    assert!(
        panel.notices.iter().any(|n| n.contains("was down from")),
        "{:?}",
        panel.notices
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_on_one_path_share_one_connection_and_a_late_one_gets_the_last_message() {
    let server = WsServer::start(None).await;
    let service = support::service();
    let ctx = support::ctx(
        "ws-share",
        1,
        json!({"websocketUrl": format!("ws://127.0.0.1:{}", server.port)}),
        &[],
    );
    let q1 = json!({"source": "websocket", "path": "/t", "capacity": 10, "tickMs": 20});
    let q2 = json!({"source": "websocket", "path": "/t", "capacity": 20, "tickMs": 20});
    let (path1, _, _) = query_data(&service, &ctx, &q1).await.unwrap();
    let mut p1 = Panel::default();
    p1.push(&subscribe(&service, &ctx, &path1).await.unwrap());
    let mut r1 = run_stream(&service, &ctx, &path1).await;
    server.wait_handshakes(1).await;
    server.send(r#"{"x":7}"#);
    r1.until(&mut p1, WAIT, |p| p.len == 1).await;

    let (path2, _, _) = query_data(&service, &ctx, &q2).await.unwrap();
    let mut p2 = Panel::default();
    p2.push(&subscribe(&service, &ctx, &path2).await.unwrap());
    let mut r2 = run_stream(&service, &ctx, &path2).await;
    r2.until(&mut p2, WAIT, |p| p.len == 1).await;
    assert_eq!(p2.numbers("x"), [7.0], "the latest value at once");
    server.send(r#"{"x":8}"#);
    r1.until(&mut p1, WAIT, |p| p.len == 2).await;
    r2.until(&mut p2, WAIT, |p| p.len == 2).await;
    assert_eq!(
        server.handshakes().len(),
        1,
        "one connection for both channels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_open_the_feed_and_name_refused_credentials_without_secrets() {
    let server = WsServer::start(Some("good-token")).await;
    let service = support::service();
    let url = format!("ws://127.0.0.1:{}/stream", server.port);
    let settings = json!({"websocketUrl": url, "httpHeaderName1": "Authorization"});
    let good = support::ctx(
        "ws-h",
        1,
        settings.clone(),
        &[("httpHeaderValue1", "Bearer good-token")],
    );
    let (status, message) = support::health(&service, &good).await;
    assert_eq!(status, 1, "{message}");
    assert!(
        message.contains("handshake with ws://127.0.0.1:"),
        "{message}"
    );

    let bad = support::ctx(
        "ws-h",
        2,
        settings,
        &[("httpHeaderValue1", "Bearer leaked-token")],
    );
    let (status, message) = support::health(&service, &bad).await;
    assert_eq!(status, 2, "{message}");
    assert!(
        message.contains("401") && message.contains("credentials"),
        "{message}"
    );
    assert!(!message.contains("leaked-token"), "{message}");

    let nobody = support::ctx(
        "ws-n",
        1,
        json!({"websocketUrl": format!("ws://127.0.0.1:{}", crate::broker::free_port())}),
        &[],
    );
    let (status, message) = support::health(&service, &nobody).await;
    assert_eq!(status, 2);
    assert!(message.contains("connection refused"), "{message}");
}
