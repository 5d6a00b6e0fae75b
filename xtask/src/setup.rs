//! Machine setup the tests and the fuzz runs need, done by `cargo xtask ci` (and
//! `cargo xtask fuzz`) on a fresh machine.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, have, run_cmd};

/// The broker the MQTT tests start (on a free loopback port of their own).
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// The tests also use `mosquitto_passwd` (package mosquitto) and `mosquitto_pub`
/// (package mosquitto-clients).
const TOOLS: [&str; 2] = ["/usr/bin/mosquitto_passwd", "/usr/bin/mosquitto_pub"];

/// Installs Debian's mosquitto and mosquitto-clients when they are missing.
pub(crate) fn ensure_mosquitto() -> Result<()> {
    let mut files = vec![MOSQUITTO];
    files.extend(TOOLS);
    ensure_debian_packages(&files, &["mosquitto", "mosquitto-clients"])
}

/// Debian's NATS server (`nats-server`, JetStream included) and Redis (`redis-server`), which
/// the NATS and Redis tests start on free ports of their own.
pub(crate) const NATS_SERVER: &str = "/usr/sbin/nats-server";
/// Debian's Redis server.
pub(crate) const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Installs `nats-server` and `redis-server` when missing.
pub(crate) fn ensure_engines() -> Result<()> {
    ensure_debian_packages(&[NATS_SERVER], &["nats-server"])?;
    ensure_debian_packages(&[REDIS_SERVER], &["redis-server"])?;
    // The TLS tests make their certificates with it.
    ensure_debian_packages(&["/usr/bin/openssl"], &["openssl"])
}

/// Installs Debian `packages` when one of `files` is missing: only as root (with apt-get);
/// otherwise says what to do. The package lists are refreshed only when an install from the
/// current ones fails.
pub(crate) fn ensure_debian_packages(files: &[&str], packages: &[&str]) -> Result<()> {
    let missing = || files.iter().find(|p| !Path::new(p).exists()).copied();
    let Some(first_missing) = missing() else {
        return Ok(());
    };
    let list = packages.join(" ");
    if !is_root()? {
        bail!(
            "{first_missing} is missing and this is not root: install Debian's {list} \
             (sudo apt-get install {list}), then run the tests again"
        );
    }
    if !have("apt-get") {
        bail!("{first_missing} is missing and there is no apt-get to install Debian's {list}");
    }
    let install = || {
        run_cmd(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        run_cmd(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    if let Some(still) = missing() {
        bail!("apt-get installed {list}, but {still} is still missing");
    }
    Ok(())
}

/// The cargo-fuzz release line `cargo xtask fuzz` is written for (its command line and
/// build flags).
const CARGO_FUZZ: &str = "^0.13";

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is missing (`cargo install`, into
/// cargo's own bin folder, where cargo finds subcommands even when it is not on PATH), and
/// returns its version line.
pub(crate) fn ensure_cargo_fuzz() -> Result<String> {
    if let Some(version) = cargo_fuzz_version() {
        return Ok(version);
    }
    run_cmd(cargo().args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ]))?;
    cargo_fuzz_version()
        .context("`cargo install cargo-fuzz` succeeded, but `cargo fuzz --version` still fails")
}

/// `cargo fuzz --version` (`cargo-fuzz 0.13.2`), or `None` when there is no `cargo fuzz`.
fn cargo_fuzz_version() -> Option<String> {
    let out = cargo().args(["fuzz", "--version"]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn is_root() -> Result<bool> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("could not run `id -u`")?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}
