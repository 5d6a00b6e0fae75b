//! Test support: a real mosquitto broker on a free loopback port, a publisher, and the
//! in-process WebSocket server.
//!
//! [`Broker::start`] writes a config into a temporary directory (listener on 127.0.0.1 and a
//! port of its own, never the system broker's 1883), starts `/usr/sbin/mosquitto`, waits
//! until it accepts connections, and kills it on drop. `cargo xtask ci` installs mosquitto
//! when it is missing (xtask/src/setup.rs); without it these tests fail with that hint.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

pub(crate) const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// How the broker is set up.
#[derive(Debug, Clone, Default)]
pub(crate) struct BrokerOptions {
    /// `Some((user, password))`: anonymous clients are refused, this user is accepted.
    pub(crate) user: Option<(String, String)>,
    /// Keep retained messages across a restart (written on SIGTERM).
    pub(crate) persistence: bool,
    /// More configuration lines.
    pub(crate) extra: String,
}

/// A mosquitto process; killed on drop.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A fresh temporary directory (removed by [`Broker`]'s drop).
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringstream-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Broker {
    /// Starts mosquitto with `options`; waits until it accepts connections.
    pub(crate) fn start(options: &BrokerOptions) -> Broker {
        assert!(
            std::path::Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run `cargo xtask ci` (it installs Debian's mosquitto) or \
             `apt-get install mosquitto mosquitto-clients`"
        );
        let dir = temp_dir("mosquitto");
        let port = free_port();
        let mut config = format!(
            "listener {port} 127.0.0.1\n\
             user root\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n"
        );
        match &options.user {
            None => config.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.join("passwd");
                let status = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, password])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("mosquitto_passwd (Debian's mosquitto package)");
                assert!(status.success(), "mosquitto_passwd failed");
                config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        if options.persistence {
            config.push_str(&format!(
                "persistence true\npersistence_location {}/\n",
                dir.display()
            ));
        }
        config.push_str(&options.extra);
        std::fs::write(dir.join("mosquitto.conf"), config).expect("config");
        let mut broker = Broker {
            port,
            dir,
            child: None,
        };
        broker.restart();
        broker
    }

    /// Starts the process again on the same port (after [`Broker::stop`]).
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        // Its log goes to a file (it warns about running as root on every start), shown
        // when it does not come up.
        let log = std::fs::File::create(self.dir.join("mosquitto.log")).expect("log file");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker gracefully (SIGTERM: it saves retained messages when persistent).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An MQTT publisher for tests (rumqttc, QoS 1: each publish waits for the broker's ack).
pub(crate) struct Publisher {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Connects to `broker` (as `user`, when given) and waits for the CONNACK.
    pub(crate) async fn connect(port: u16, user: Option<(&str, &str)>) -> Publisher {
        static N: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "test-pub-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(2 << 20, 2 << 20);
        if let Some((u, p)) = user {
            options.set_credentials(u, p);
        }
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
        tokio::time::timeout(Duration::from_secs(5), connected)
            .await
            .expect("publisher connects")
            .expect("publisher task");
        Publisher { client, acks, task }
    }

    /// Publishes and waits until the broker has it.
    pub(crate) async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.publish_many([(topic.to_owned(), payload.into())], retain)
            .await;
    }

    /// Publishes every message, then waits until the broker has them all.
    pub(crate) async fn publish_many(
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
            tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
                .await
                .expect("the broker acknowledges")
                .expect("publisher task");
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
