//! TLS to the engines through the real binary: a nats-server and a redis-server that speak
//! only TLS, with a certificate from a CA of the test's own (made by Debian's `openssl`).
//! Health names a certificate the plugin cannot verify, never a secret; with the CA in
//! `tlsCACert` it connects.

use std::path::PathBuf;
use std::process::Command;

use ringstream_harness::host::{DataSourceSettings, HealthStatus, PluginHost};
use serde_json::{json, Value};

use crate::plugin_exe::plugin_exe;
use crate::servers::{free_port, NatsServer, RedisServer};

/// A CA and a server certificate for 127.0.0.1 in a folder of its own.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make(name: &str) -> Certs {
        let dir =
            std::env::temp_dir().join(format!("ringstream-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder");
        let openssl = |args: &[&str]| {
            let ok = Command::new("/usr/bin/openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("/usr/bin/openssl (cargo xtask ci installs it)");
            assert!(
                ok.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&ok.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ringstream test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
        Certs { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn ca(&self) -> String {
        std::fs::read_to_string(self.dir.join("ca.pem")).expect("the CA")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn health(json_data: Value, secure: &[(&str, String)]) -> (HealthStatus, String) {
    let mut host = PluginHost::start(plugin_exe())
        .await
        .expect("the plugin starts");
    host.set_settings(DataSourceSettings {
        uid: "tls".into(),
        json_data,
        secure: secure
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        ..DataSourceSettings::default()
    });
    let h = host.check_health().await.expect("CheckHealth");
    (h.status, h.message)
}

/// Unverifiable without the CA (named, without the password); OK with it.
async fn check(url: String, url_key: &str, password_key: &str, certs: &Certs) {
    let password = ("x".repeat(3) + "hunter2-tls").to_string();
    let base = json!({ url_key: url });
    let (status, message) = health(base.clone(), &[(password_key, password.clone())]).await;
    assert_eq!(status, HealthStatus::Error, "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(!message.contains(&password), "{message}");
    let mut with_ca = base;
    with_ca["tlsAuthWithCACert"] = json!(true);
    let (status, message) = health(with_ca, &[("tlsCACert", certs.ca())]).await;
    assert_eq!(status, HealthStatus::Ok, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_over_tls_needs_the_servers_ca_and_says_so() {
    let certs = Certs::make("nats");
    let server = NatsServer::start_with(&format!(
        "tls {{ cert_file: {:?}, key_file: {:?} }}",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let url = server.url().replace("nats://", "tls://");
    check(url, "natsUrl", "natsToken", &certs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_needs_the_servers_ca_and_says_so() {
    let certs = Certs::make("redis");
    let (cert, key, ca) = (
        certs.path("server.pem"),
        certs.path("server.key"),
        certs.path("ca.pem"),
    );
    // The plain port stays for the test's own readiness check; the plugin gets the TLS one.
    let tls_port = free_port().to_string();
    let _server = RedisServer::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    check(url, "redisUrl", "redisPassword", &certs).await;
}
