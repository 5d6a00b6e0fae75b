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
    run_cmd(cargo().args(["test", "--workspace"]))?;
    crate::frontend::run()?;
    // The committed fixtures must still be what the real @grafana/data produces.
    crate::fixtures::run(true)?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
