//! `cargo xtask new-source NAME`: writes the skeleton of a new source,
//! `crates/plugin/src/source/NAME.rs`, and registers it (`pub mod NAME;` and its line in
//! `SOURCES`). The skeleton is the example in the source module's docs (between its
//! `new-source:` markers), named NAME: a doctest, so the template always compiles.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::util::project_root;

/// The example's name in the template.
const EXAMPLE: &str = "heartbeat";

pub(crate) fn run(name: &str) -> Result<()> {
    check_name(name)?;
    let dir = project_root().join("crates/plugin/src/source");
    let file = dir.join(format!("{name}.rs"));
    if file.exists() {
        bail!("{} exists already", file.display());
    }
    let registry = dir.join("mod.rs");
    let module = std::fs::read_to_string(&registry).context("crates/plugin/src/source/mod.rs")?;
    std::fs::write(&file, skeleton(&module, name)?)?;
    std::fs::write(&registry, register(&module, name)?)?;
    eprintln!(
        "wrote {} and registered it in {}; next: its parameters, then `cargo xtask schema` \
         and `cargo test -p ringstream-plugin`",
        rel(&file),
        rel(&registry)
    );
    Ok(())
}

fn rel(p: &Path) -> String {
    p.strip_prefix(project_root())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// A source name: a lower-case Rust identifier that is not one already taken.
fn check_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok || ["mod", "feed", "payload", "self", "super", "crate"].contains(&name) {
        bail!("`{name}` cannot be a source name: use a lower-case identifier such as `nats`");
    }
    Ok(())
}

/// The template in `module`'s docs, named `name`, as a module of the plugin crate.
fn skeleton(module: &str, name: &str) -> Result<String> {
    let lines: Vec<&str> = module.lines().collect();
    let at = |marker: &str| {
        lines
            .iter()
            .position(|l| l.trim_start_matches("//!").trim() == format!("// new-source: {marker}"))
            .with_context(|| format!("no `// new-source: {marker}` line in the source module docs"))
    };
    let (begin, tests, end) = (at("begin")?, at("tests")?, at("end")?);
    fn strip(l: &str) -> &str {
        l.strip_prefix("//! ")
            .unwrap_or_else(|| l.trim_start_matches("//!"))
    }
    let body: Vec<&str> = lines[begin + 1..tests].iter().map(|l| strip(l)).collect();
    let test_fns: Vec<&str> = lines[tests + 1..end].iter().map(|l| strip(l)).collect();
    let camel: String = name
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let rename = |text: &str| {
        text.replace("ringstream_plugin::", "crate::")
            .replace(&EXAMPLE.to_ascii_uppercase(), &name.to_ascii_uppercase())
            .replace("Heartbeat", &camel)
            .replace(EXAMPLE, name)
    };
    let mut out = rename(&body.join("\n"));
    out.push_str("\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n");
    for line in rename(&test_fns.join("\n")).lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("}\n");
    Ok(out)
}

/// `module` with `pub mod name;` after the last `pub mod` line and `&name::NAME` last in
/// `SOURCES`.
fn register(module: &str, name: &str) -> Result<String> {
    let mut lines: Vec<String> = module.lines().map(str::to_owned).collect();
    let last_mod = lines
        .iter()
        .rposition(|l| l.starts_with("pub mod ") || l.starts_with("pub(crate) mod "))
        .context("no `pub mod` line in the source module")?;
    lines.insert(last_mod + 1, format!("pub mod {name};"));
    let start = lines
        .iter()
        .position(|l| l.starts_with("pub static SOURCES"))
        .context("no `pub static SOURCES` in the source module")?;
    let close = lines[start..]
        .iter()
        .position(|l| l.trim_end().ends_with("];"))
        .map(|i| start + i)
        .context("the SOURCES list does not end with `];`")?;
    let entry = format!("&{name}::{}", name.to_ascii_uppercase());
    let line = &mut lines[close];
    let cut = line.rfind("];").unwrap_or(line.len());
    let before = line[..cut].trim_end().trim_end_matches(',').to_owned();
    *line = if before.ends_with('[') || before.trim().is_empty() {
        format!("{before}    {entry},\n];")
    } else {
        format!("{before}, {entry}];")
    };
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> String {
        std::fs::read_to_string(project_root().join("crates/plugin/src/source/mod.rs")).unwrap()
    }

    #[test]
    fn the_skeleton_is_the_documented_example_renamed() {
        let text = skeleton(&module(), "nats_js").unwrap();
        assert!(
            text.contains("pub static NATS_JS: NatsJs = NatsJs;"),
            "{text}"
        );
        assert!(text.contains("\"nats_js\""));
        assert!(text.contains("use crate::param::{Kind, Param};"));
        assert!(!text.contains("heartbeat") && !text.contains("ringstream_plugin::"));
        assert!(
            text.contains("#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn ")
        );
        assert!(!text.contains("//!  "), "doc prefixes stripped");
    }

    #[test]
    fn registering_adds_the_module_and_the_registry_line() {
        let text = register(&module(), "nats").unwrap();
        assert!(text.contains("pub mod nats;\n"));
        let registry = text
            .lines()
            .skip_while(|l| !l.starts_with("pub static SOURCES"))
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(registry.contains("&nats::NATS"), "{registry}");
        assert!(registry.trim_end().ends_with("];"), "{registry}");
    }

    #[test]
    fn names_must_be_identifiers_not_taken() {
        assert!(check_name("nats").is_ok());
        for bad in ["Nats", "9lives", "my-source", "mod", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
