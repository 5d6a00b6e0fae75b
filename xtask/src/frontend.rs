//! The frontend tests (part of `cargo xtask ci`): `crates/plugin/frontend/module.js` loaded
//! through a small AMD loader in node, and both editors driven in headless Chromium (Debian's
//! `chromium`, through `playwright-core`; no browser is ever downloaded).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{have, project_root, run_cmd};

/// Debian's Chromium, which the browser test drives.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The test files, run by node's built-in test runner.
const TESTS: &[&str] = &["module.test.js", "browser.test.js"];

/// Packages the tests load; when one is missing from node_modules, `npm ci` installs them all.
const PACKAGES: &[&str] = &["react", "react-dom", "playwright-core", "acorn"];

pub(crate) fn run() -> Result<()> {
    let dir = project_root().join("crates/plugin/frontend/test");
    if !have("node") || !have("npm") {
        bail!(
            "node and npm are needed for the frontend tests (Debian: apt-get install nodejs npm)"
        );
    }
    ensure_chromium()?;
    if PACKAGES.iter().any(|p| {
        !dir.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    }) {
        run_cmd(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )?;
    }
    run_cmd(
        Command::new("node")
            .arg("--test")
            .args(TESTS)
            .current_dir(&dir),
    )
}

/// Installs Debian's chromium when it is missing: only as root; otherwise says what to do.
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    if !is_root()? {
        bail!(
            "{CHROMIUM} is missing and this is not root: install Debian's chromium \
             (sudo apt-get install chromium), then run the frontend tests again"
        );
    }
    if !have("apt-get") {
        bail!("{CHROMIUM} is missing and there is no apt-get to install Debian's chromium");
    }
    run_cmd(Command::new("apt-get").args(["update"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !Path::new(CHROMIUM).exists() {
        bail!("apt-get installed chromium, but {CHROMIUM} is still missing");
    }
    Ok(())
}

fn is_root() -> Result<bool> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("could not run `id -u`")?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}
