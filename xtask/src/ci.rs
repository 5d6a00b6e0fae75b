//! `cargo xtask ci`: every check CI runs, in the order that fails fastest.

use anyhow::Result;

use crate::util::{cargo, run_cmd};

pub(crate) fn run() -> Result<()> {
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The docs' links must resolve: a renamed item must not leave a map pointing nowhere.
    run_cmd(
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    crate::setup::ensure_mosquitto()?; // the MQTT tests start their own broker
    crate::setup::ensure_engines()?; // and the NATS and Redis tests their own servers

    // `cargo test --workspace` builds gpx_ringstream (the plugin's own integration tests need
    // it) before any test runs: the harness's end-to-end tests take that executable instead
    // of building it again with other dependency features. CI=true: insta fails on a
    // snapshot mismatch and writes nothing.
    let plugin = crate::util::project_root()
        .join("target")
        .join("debug")
        .join(format!("gpx_ringstream{}", std::env::consts::EXE_SUFFIX));
    let mut test = cargo();
    test.args(["test", "--workspace"]).env("CI", "true");
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        test.env("RINGSTREAM_PLUGIN_EXE", plugin);
    }
    run_cmd(&mut test)?;
    crate::frontend::run()?;
    // The committed fixtures must still be what the real @grafana/data produces.
    crate::fixtures::run(true)?;
    // The exported schemas must still be what the plugin's declarations make.
    crate::schema::run(true)?;
    // Every fuzz target for a few seconds from the committed seeds: no crash.
    crate::fuzz::run_ci()?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
