//! `cargo bench -p ringstream-plugin --bench channels`: the real plugin binary serving
//! 1 000 concurrent channels at 10 Hz (tick 100 ms), as Grafana would drive it: one RunStream
//! per channel. Prints the plugin process's CPU (cores) and memory (RSS), beside the same
//! process idle, measured in the same run. Figures go to docs/PERFORMANCE.md.
//!
//! Options (environment): `CHANNELS` (default 1000), `SECONDS` (measurement window, default 20).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grafana_plugin_sdk::pluginv2::{stream_client::StreamClient, RunStreamRequest};

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("procfs");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// Resident memory in MiB (`VmRSS`) and its peak (`VmHWM`).
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn measure(pid: u32, window: Duration) -> (f64, f64) {
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(window);
    let cores = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    (cores, memory_mib(pid).0)
}

fn main() {
    // `cargo bench` passes `--bench`; this is not a criterion benchmark, so ignore arguments.
    let channels = env_or("CHANNELS", 1000);
    let window = Duration::from_secs(env_or("SECONDS", 20));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpx_ringstream"))
        .env("grafana_plugin_type", "datasource")
        .env("PLUGIN_PROTOCOL_VERSIONS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the plugin starts");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().split('|').nth(3).expect("handshake").to_owned();

    let (idle_cpu, idle_rss) = measure(pid, Duration::from_secs(3));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let packets = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let client = StreamClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        for seed in 0..channels {
            let mut client = client.clone();
            let packets = Arc::clone(&packets);
            let path =
                format!("v1/random_walk/start=0/spread=1/tick=100/cap=1000/seed={seed}/backfill=1");
            tokio::spawn(async move {
                let mut stream = client
                    .run_stream(RunStreamRequest {
                        path,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                while let Ok(Some(_)) = stream.message().await {
                    packets.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let _keep_streams = &runtime;
    std::thread::sleep(Duration::from_secs(5)); // all channels open and ticking
    let before = packets.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let (cpu, rss) = measure(pid, window);
    let rate = (packets.load(Ordering::Relaxed) - before) as f64 / t0.elapsed().as_secs_f64();
    let (_, peak) = memory_mib(pid);

    println!("plugin process, {channels} channels at 10 Hz, {window:?} window:");
    println!("  idle (0 channels):  {idle_cpu:.3} cores, {idle_rss:.1} MiB RSS");
    println!("  {channels} channels:      {cpu:.3} cores, {rss:.1} MiB RSS (peak {peak:.1} MiB)");
    println!(
        "  packets received:   {rate:.0}/s (expected {})",
        channels * 10
    );
    child.kill().ok();
    let _ = child.wait();
}
