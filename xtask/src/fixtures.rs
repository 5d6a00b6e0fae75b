//! `cargo xtask fixtures [--check]`: runs the conformance generators in
//! `crates/harness/oracle` through the real `@grafana/data` (node + npm) and writes, or with
//! `--check` compares, the fixtures under `crates/harness/tests/fixtures`.

use std::process::Command;

use anyhow::{bail, Result};

use crate::util::{have, project_root, run_cmd};

/// The generators, each writing one fixture file.
const GENERATORS: &[&str] = &["gen-ring.cjs", "gen-live.cjs"];

pub(crate) fn run(check: bool) -> Result<()> {
    let oracle = project_root().join("crates/harness/oracle");
    if !have("node") || !have("npm") {
        bail!("node and npm are needed to run the @grafana/data oracle (Debian: apt-get install nodejs npm)");
    }
    if !oracle.join("node_modules/@grafana/data").exists() {
        run_cmd(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&oracle),
        )?;
    }
    for generator in GENERATORS {
        let mut cmd = Command::new("node");
        cmd.arg(generator).current_dir(&oracle);
        if check {
            cmd.arg("--check");
        }
        run_cmd(&mut cmd)?;
    }
    Ok(())
}
