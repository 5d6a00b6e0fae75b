//! The frontend tests (part of `cargo xtask ci`): `crates/plugin/frontend/module.js` loaded
//! through a small AMD loader in node, and both editors driven in headless Chromium (Debian's
//! `chromium`, through `playwright-core`; no browser is ever downloaded).

use std::process::Command;

use anyhow::{bail, Result};

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
    crate::setup::ensure_debian_packages(&[CHROMIUM], &["chromium"])?;
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
