//! `cargo xtask schema [--check]`: writes, or with `--check` compares, the query and
//! settings JSON Schemas in `crates/plugin/schema/`, made by the plugin crate from its own
//! declarations (`ringstream-schema`). CI runs `--check`: a parameter or setting changed
//! without `cargo xtask schema` fails it.

use anyhow::{bail, Context, Result};

use crate::util::{cargo, project_root, run_cmd};

/// The committed schemas.
const FILES: [&str; 2] = ["query.schema.json", "settings.schema.json"];

pub(crate) fn run(check: bool) -> Result<()> {
    let root = project_root();
    let committed = root.join("crates/plugin/schema");
    let fresh = root.join("target/schema");
    let _ = std::fs::remove_dir_all(&fresh);
    run_cmd(
        cargo()
            .args(["run", "--quiet", "-p", "ringstream-plugin"])
            .args(["--bin", "ringstream-schema", "--"])
            .arg(&fresh),
    )?;
    let mut stale = Vec::new();
    for name in FILES {
        let new = std::fs::read_to_string(fresh.join(name))
            .with_context(|| format!("ringstream-schema wrote no {name}"))?;
        let old = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        if new == old {
            continue;
        }
        if check {
            stale.push(name);
        } else {
            std::fs::create_dir_all(&committed)?;
            std::fs::write(committed.join(name), new)?;
            eprintln!("wrote crates/plugin/schema/{name}");
        }
    }
    if !stale.is_empty() {
        bail!(
            "crates/plugin/schema/{} is stale: the plugin's parameters or settings changed; \
             run `cargo xtask schema` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}
