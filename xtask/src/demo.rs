//! `cargo xtask demo`: "see it stream". Builds the plugin and the harness (debug: quick) and
//! runs `ringstream-harness watch` on the fresh plugin, which starts it exactly as Grafana
//! does and shows the live panel view in the terminal: the tutorial's stream unless a query
//! is given.

use anyhow::Result;

use crate::util::{cargo, run_cmd, target_dir};

/// What `demo` passes on to `watch`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DemoArgs {
    /// `--seconds N`: stop after N seconds (default: until Ctrl-C).
    pub(crate) seconds: Option<String>,
    /// `--query JSON`: the panel's query (default `{}`).
    pub(crate) query: Option<String>,
}

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    run_cmd(cargo().args([
        "build",
        "-p",
        "ringstream-plugin",
        "--bin",
        "gpx_ringstream",
        "-p",
        "ringstream-harness",
        "--bin",
        "ringstream-harness",
    ]))?;
    let bin = target_dir().join("debug");
    let exe = |name: &str| bin.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let mut watch = std::process::Command::new(exe("ringstream-harness"));
    watch
        .arg("watch")
        .arg("--plugin")
        .arg(exe("gpx_ringstream"));
    if let Some(seconds) = &args.seconds {
        watch.args(["--seconds", seconds]);
    }
    if let Some(query) = &args.query {
        watch.args(["--query", query]);
    }
    run_cmd(&mut watch)
}
