//! Real servers for the end-to-end tests, each on a free loopback port of its own (never a
//! system service's standard port): Debian's mosquitto, a fast MQTT publisher (rumqttc), and
//! a WebSocket feed server (tokio-tungstenite) that counts its connections, nats-server and
//! redis-server.
//! `cargo xtask ci` installs mosquitto and its clients when they are missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ringstream_harness::host::LivePanel;
use ringstream_harness::HarnessError;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// The wall clock, epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    i64::try_from(ms).expect("fits")
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A mosquitto process on a free loopback port; killed on drop.
pub(crate) struct Mosquitto {
    pub(crate) port: u16,
    dir: PathBuf,
    /// More folders of its own, removed with it.
    extra_dirs: Vec<PathBuf>,
    child: Option<Child>,
}

impl Mosquitto {
    /// Anonymous clients allowed, errors logged.
    pub(crate) fn start() -> Mosquitto {
        Self::start_with("")
    }

    /// With more configuration lines (an ACL, more logging, queue limits).
    pub(crate) fn start_with(extra: &str) -> Mosquitto {
        static N: AtomicU64 = AtomicU64::new(0);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "ringstream-e2e-mqtt-{}-{port}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nlog_type error\n\
                 log_dest file {}\n{extra}",
                dir.join("mosquitto.log").display()
            ),
        )
        .expect("config");
        let mut broker = Mosquitto {
            port,
            dir,
            extra_dirs: Vec::new(),
            child: None,
        };
        broker.restart();
        broker
    }

    /// With mosquitto's dynamic security plugin (Debian's mosquitto ships it) and this
    /// configuration of it (its JSON file).
    pub(crate) fn start_with_dynsec(config: &str) -> Mosquitto {
        let dir = std::env::temp_dir().join(format!(
            "ringstream-e2e-dynsec-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("dynamic-security.json");
        std::fs::write(&file, config).expect("dynsec config");
        let mut broker = Self::start_with(&format!(
            "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\n\
             plugin_opt_config_file {}\n",
            file.display()
        ));
        broker.extra_dirs.push(dir);
        broker
    }

    /// What the broker logged.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub(crate) fn restart(&mut self) {
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/mosquitto (cargo xtask ci installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Publishes one message (QoS 1) with `mosquitto_pub`.
    pub(crate) fn publish(&self, topic: &str, payload: &str, retain: bool) -> bool {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ]);
        if retain {
            cmd.arg("-r");
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mosquitto_pub (Debian's mosquitto-clients)")
            .success()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        for dir in &self.extra_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// An MQTT publisher (rumqttc, QoS 1: each publish waits for the broker's ack).
pub(crate) struct Publisher {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Connects to the broker on `port` and waits for the CONNACK.
    pub(crate) async fn connect(port: u16) -> Publisher {
        static N: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "e2e-pub-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(2 << 20, 2 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let (tx, acks) = mpsc::unbounded_channel();
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        let mut connected_tx = Some(connected_tx);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        let _ = tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, connected)
            .await
            .expect("the publisher connects")
            .expect("publisher task");
        Publisher { client, acks, task }
    }

    /// Publishes every message, then waits until the broker has them all.
    pub(crate) async fn publish_all(
        &mut self,
        messages: impl IntoIterator<Item = (String, Vec<u8>)>,
        retain: bool,
    ) {
        let mut n = 0;
        for (topic, payload) in messages {
            self.client
                .publish(topic, QoS::AtLeastOnce, retain, payload)
                .await
                .expect("publish queued");
            n += 1;
        }
        for _ in 0..n {
            tokio::time::timeout(Duration::from_secs(30), self.acks.recv())
                .await
                .expect("the broker acknowledges")
                .expect("publisher task");
        }
    }

    /// Publishes one message and waits for the broker's ack.
    pub(crate) async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_all([(topic.to_owned(), payload.into())], false)
            .await;
    }

    /// Publishes `probe` on `topic` until `panel` shows a row more than it had: the plugin's
    /// subscription is live. A fixed sleep only guesses how long CONNECT and SUBSCRIBE take
    /// on a loaded machine, and messages published before the SUBACK are lost (QoS 0).
    pub(crate) async fn until_live(&mut self, topic: &str, probe: &str, panel: &mut LivePanel) {
        let before = panel.panel().len();
        let deadline = Instant::now() + WAIT;
        loop {
            self.publish(topic, probe).await;
            match panel
                .wait_until(Duration::from_millis(300), |p| p.len() > before)
                .await
            {
                Ok(()) => return,
                Err(HarnessError::Timeout(_)) if Instant::now() < deadline => {}
                Err(e) => panic!("the subscription to {topic:?} never went live: {e}"),
            }
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A WebSocket feed on a free loopback port: every connection gets `{"n":<i>}` every 20 ms.
/// Counts the connections open now and the most open at once, and keeps each handshake's
/// request target (path and query).
pub(crate) struct WsServer {
    pub(crate) port: u16,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WsServer {
    pub(crate) async fn start() -> WsServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a WebSocket port");
        let port = listener.local_addr().expect("its address").port();
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let (o, p, t) = (Arc::clone(&open), Arc::clone(&peak), Arc::clone(&targets));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (open, peak, targets) = (Arc::clone(&o), Arc::clone(&p), Arc::clone(&t));
                tokio::spawn(async move {
                    // The handshake callback's type is tungstenite's, large error and all.
                    #[allow(clippy::result_large_err)]
                    let callback =
                        |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                            targets
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(req.uri().to_string());
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await
                    else {
                        return;
                    };
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let mut n = 0_u64;
                    let mut tick = tokio::time::interval(Duration::from_millis(20));
                    loop {
                        tokio::select! {
                            _ = tick.tick() => {
                                let msg = tokio_tungstenite::tungstenite::Message::Text(format!(r#"{{"n":{n}}}"#));
                                if ws.send(msg).await.is_err() {
                                    break;
                                }
                                n += 1;
                            }
                            incoming = ws.next() => match incoming {
                                Some(Ok(_)) => {}
                                _ => break,
                            },
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        WsServer {
            port,
            open,
            peak,
            targets,
            task,
        }
    }

    /// `ws://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Every handshake's request target so far.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A NATS server with JetStream (Debian's `nats-server -js`) on a free loopback port, its
/// store in a folder of its own that outlives restarts; killed on drop.
pub(crate) struct NatsServer {
    pub(crate) port: u16,
    dir: PathBuf,
    config: String,
    child: Option<Child>,
}

impl NatsServer {
    /// Anonymous clients allowed.
    pub(crate) fn start() -> NatsServer {
        Self::start_with("")
    }

    /// With more configuration (an `authorization { … }` block, TLS).
    pub(crate) fn start_with(extra: &str) -> NatsServer {
        static N: AtomicU64 = AtomicU64::new(0);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "ringstream-e2e-nats-{}-{port}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\n{extra}\n",
            dir.join("store").display().to_string()
        );
        let mut server = NatsServer {
            port,
            dir,
            config,
            child: None,
        };
        server.restart();
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again (after [`stop`](Self::stop)) on the same port and store.
    pub(crate) fn restart(&mut self) {
        let conf = self.dir.join("nats.conf");
        std::fs::write(&conf, &self.config).expect("config");
        let child = Command::new("/usr/sbin/nats-server")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/nats-server (cargo xtask ci installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client of it (anonymous).
    pub(crate) async fn client(&self) -> async_nats::Client {
        tokio::time::timeout(WAIT, async_nats::connect(self.url()))
            .await
            .expect("nats-server answers")
            .expect("a NATS client connects")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server (Debian's `redis-server`) on a free loopback port, its files in a folder
/// of its own that outlives restarts; killed on drop.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    dir: PathBuf,
    args: Vec<String>,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// No persistence, no password.
    pub(crate) fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// With more options (later ones win): `["--appendonly", "yes"]` to keep every write
    /// across a restart, `["--requirepass", "…"]` for a password.
    pub(crate) fn start_with(extra: &[&str]) -> RedisServer {
        static N: AtomicU64 = AtomicU64::new(0);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "ringstream-e2e-redis-{}-{port}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            // Every write on disk before it is acknowledged: a kill loses none.
            "--appendfsync",
            "always",
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .map(|p| (*p).to_owned());
        let mut server = RedisServer {
            port,
            dir,
            args,
            password,
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again (after [`stop`](Self::stop)) on the same port and folder; returns
    /// once it answers PING (its data loaded).
    pub(crate) fn restart(&mut self) {
        let child = Command::new("/usr/bin/redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/redis-server (cargo xtask ci installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = self
                .try_client()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL: what is not on disk is lost).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        let mut info = redis::RedisConnectionInfo::default();
        if let Some(p) = &self.password {
            info = info.set_password(p);
        }
        let addr = redis::ConnectionAddr::Tcp("127.0.0.1".into(), self.port);
        let client = redis::Client::open(
            redis::IntoConnectionInfo::into_connection_info(addr)?.set_redis_settings(info),
        )?;
        client.get_connection_with_timeout(WAIT)
    }

    /// A client of it (with its password).
    pub(crate) fn client(&self) -> redis::Connection {
        self.try_client().expect("a Redis client connects")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
