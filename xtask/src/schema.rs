//! `cargo xtask schema [--check]`: writes, or with `--check` compares, what the plugin crate
//! makes from its own declarations (`ringstream-schema`): the query and settings JSON Schemas
//! in `crates/plugin/schema/`, and the parameter and settings tables of the docs, placed
//! between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`. CI runs `--check`: a
//! parameter or setting changed without `cargo xtask schema` fails it.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, project_root, run_cmd};

/// The committed schemas.
const FILES: [&str; 2] = ["query.schema.json", "settings.schema.json"];

/// The docs holding generated tables.
const DOCS: [&str; 2] = ["README.md", "crates/plugin/SOURCES.md"];

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
        let path = committed.join(name);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        update(&path, &old, new, check, &mut stale)?;
    }
    let tables = |name: &str| std::fs::read_to_string(fresh.join(format!("{name}.md"))).ok();
    for doc in DOCS {
        let path = root.join(doc);
        let old = std::fs::read_to_string(&path).with_context(|| format!("reading {doc}"))?;
        let new = splice(&old, tables).with_context(|| doc.to_owned())?;
        update(&path, &old, new, check, &mut stale)?;
    }
    if !stale.is_empty() {
        bail!(
            "{} stale: the plugin's parameters or settings changed; \
             run `cargo xtask schema` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Writes `new` over `old` at `path`, or with `check` notes that it differs.
fn update(path: &Path, old: &str, new: String, check: bool, stale: &mut Vec<String>) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let shown = path
        .strip_prefix(project_root())
        .unwrap_or(path)
        .display()
        .to_string();
    if check {
        stale.push(shown);
    } else {
        std::fs::create_dir_all(path.parent().expect("a file has a folder"))?;
        std::fs::write(path, new)?;
        eprintln!("wrote {shown}");
    }
    Ok(())
}

/// `doc` with the text between each `<!-- generated:NAME -->` and its
/// `<!-- /generated:NAME -->` replaced by `table(NAME)`.
///
/// # Errors
/// An unknown NAME, or a start marker without its end.
fn splice(doc: &str, table: impl Fn(&str) -> Option<String>) -> Result<String> {
    const OPEN: &str = "<!-- generated:";
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(at) = rest.find(OPEN) {
        let after = &rest[at + OPEN.len()..];
        let Some(close) = after.find(" -->") else {
            bail!("an unclosed `{OPEN}` comment");
        };
        let name = &after[..close];
        let end_marker = format!("<!-- /generated:{name} -->");
        let body_start = at + OPEN.len() + close + " -->".len();
        let Some(end) = rest[body_start..].find(&end_marker) else {
            bail!("`{OPEN}{name} -->` has no `{end_marker}`");
        };
        let Some(text) = table(name) else {
            bail!("no generated table is named `{name}`");
        };
        out.push_str(&rest[..body_start]);
        out.push('\n');
        out.push_str(&text);
        out.push_str(&end_marker);
        rest = &rest[body_start + end + end_marker.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::splice;

    fn table(name: &str) -> Option<String> {
        (name == "t").then(|| "| a |\n".to_owned())
    }

    #[test]
    fn splice_replaces_only_between_markers() {
        let doc = "intro\n<!-- generated:t -->\nold\n<!-- /generated:t -->\nend\n";
        let new = splice(doc, table).unwrap();
        assert_eq!(
            new,
            "intro\n<!-- generated:t -->\n| a |\n<!-- /generated:t -->\nend\n"
        );
        // Splicing is idempotent: a fresh doc is not stale.
        assert_eq!(splice(&new, table).unwrap(), new);
    }

    #[test]
    fn splice_rejects_unknown_and_unclosed_markers() {
        let unknown = splice("<!-- generated:x -->\n<!-- /generated:x -->", table);
        assert!(unknown.unwrap_err().to_string().contains("`x`"));
        let unclosed = splice("<!-- generated:t -->\nno end", table);
        assert!(unclosed.unwrap_err().to_string().contains("/generated:t"));
    }
}
