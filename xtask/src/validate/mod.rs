//! `cargo xtask validate [ZIP|FOLDER]`: offline checks in the spirit of Grafana's plugin
//! validator. A zip gets every check; a plugin folder (such as `dist/`) every check but the
//! archive's name and layout. Each failure says what is wrong and how to fix it.
//!
//! One module per check family: `archive` (the zip's name and layout), `manifest`
//! (plugin.json against the rules of Grafana's plugin.json schema, declared in `schema`),
//! `executable` (the backend binaries), `frontend` (module.js), `assets` (logos, screenshots,
//! SVG safety), `docs` (README, CHANGELOG, LICENSE) and `signature` (no stale MANIFEST.txt).

mod archive;
mod assets;
mod docs;
mod executable;
mod frontend;
mod manifest;
mod schema;
mod signature;
#[cfg(test)]
mod testutil;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use regex_lite::Regex;
use serde_json::Value;

use crate::dist::{dist_dir, plugin_id};
use crate::package::Identity;
use crate::util::project_root;

pub(crate) fn run(path: Option<PathBuf>) -> Result<()> {
    let path = match path {
        Some(path) => path,
        None => default_package()?,
    };
    if path.is_dir() {
        check_folder(&path)
    } else {
        check_zip(&path)
    }
}

/// Checks a zip, prints the report and fails when something is wrong.
pub(crate) fn check_zip(path: &Path) -> Result<()> {
    finish(path, &validate(&archive::load_zip(path)?))
}

/// Checks a plugin folder (such as `dist/`), prints the report and fails when something is
/// wrong.
pub(crate) fn check_folder(path: &Path) -> Result<()> {
    finish(path, &validate(&load_folder(path)?))
}

fn finish(path: &Path, report: &Report) -> Result<()> {
    println!("validate {}", path.display());
    print!("{report}");
    let failures = report.failures().count();
    if failures > 0 {
        bail!(
            "{failures} problem(s) in {} (failed: {}); see the fixes above",
            path.display(),
            report.failed().join(", ")
        );
    }
    println!("all {} checks passed", report.0.len());
    Ok(())
}

/// The package this repository builds: dist's zip in the workspace root, or the only
/// `<plugin id>-*.zip` there.
fn default_package() -> Result<PathBuf> {
    let root = project_root();
    if let Ok(identity) = Identity::of_folder(&dist_dir()) {
        let zip = root.join(identity.zip_name());
        if zip.is_file() {
            return Ok(zip);
        }
    }
    let prefix = format!("{}-", plugin_id()?);
    let mut zips: Vec<PathBuf> = fs::read_dir(&root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".zip")
        })
        .collect();
    zips.sort();
    match zips.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no package to check: run `cargo xtask dist && cargo xtask package`, \
             or pass a zip or a plugin folder: `cargo xtask validate PATH`"
        ),
        several => bail!(
            "several packages in {}: {}; pass the one to check: `cargo xtask validate ZIP`",
            root.display(),
            several
                .iter()
                .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One problem: what is wrong, and how to fix it.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) problem: String,
    pub(crate) fix: String,
}

fn finding(problem: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// A file of the plugin.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) data: Vec<u8>,
    /// Unix permission bits, when the archive or file system has them.
    pub(crate) mode: Option<u32>,
}

/// A plugin as found in a zip or a folder.
#[derive(Debug)]
pub(crate) struct Package {
    /// The zip's file name; `None` for a folder.
    pub(crate) archive_name: Option<String>,
    /// Problems with the archive's layout (only for a zip).
    pub(crate) layout: Vec<Finding>,
    /// The plugin's folder name in the zip.
    pub(crate) root: Option<String>,
    /// The plugin's files, by path inside its folder (`img/logo.svg`).
    pub(crate) files: BTreeMap<String, Entry>,
}

pub(crate) fn load_folder(path: &Path) -> Result<Package> {
    fn walk(base: &Path, dir: &Path, files: &mut BTreeMap<String, Entry>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(base, &path, files)?;
                continue;
            }
            let rel = path
                .strip_prefix(base)?
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(
                rel,
                Entry {
                    data: fs::read(&path)?,
                    mode: mode_of(&entry.metadata()?),
                },
            );
        }
        Ok(())
    }
    if !path.is_dir() {
        bail!("{} is not a folder", path.display());
    }
    let mut files = BTreeMap::new();
    walk(path, path, &mut files)?;
    Ok(Package {
        archive_name: None,
        layout: Vec::new(),
        root: None,
        files,
    })
}

#[cfg(unix)]
fn mode_of(metadata: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_metadata: &fs::Metadata) -> Option<u32> {
    None
}

/// How one check went.
#[derive(Debug)]
pub(crate) enum Outcome {
    Passed,
    Failed(Vec<Finding>),
    Skipped(&'static str),
}

/// Every check's outcome, in order.
#[derive(Debug)]
pub(crate) struct Report(pub(crate) Vec<(&'static str, Outcome)>);

impl Report {
    pub(crate) fn failures(&self) -> impl Iterator<Item = (&'static str, &Finding)> + '_ {
        self.0.iter().flat_map(|(name, outcome)| match outcome {
            Outcome::Failed(findings) => findings.iter().map(|f| (*name, f)).collect(),
            _ => Vec::new(),
        })
    }

    /// The names of the checks that failed.
    pub(crate) fn failed(&self) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .map(|(name, _)| *name)
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.0 {
            match outcome {
                Outcome::Passed => writeln!(f, "  ok    {name}")?,
                Outcome::Skipped(why) => writeln!(f, "  skip  {name}: {why}")?,
                Outcome::Failed(findings) => {
                    for finding in findings {
                        writeln!(f, "  FAIL  {name}: {}", finding.problem)?;
                        writeln!(f, "        fix: {}", finding.fix)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs every check on `package`.
pub(crate) fn validate(package: &Package) -> Report {
    let manifest = package
        .files
        .get("plugin.json")
        .and_then(|e| serde_json::from_slice::<Value>(&e.data).ok())
        .filter(Value::is_object);
    let needs_manifest = |outcome: Vec<Finding>| match &manifest {
        Some(_) => outcome.into(),
        None => Outcome::Skipped("needs a readable plugin.json"),
    };
    let mut checks: Vec<(&'static str, Outcome)> = Vec::new();
    if package.archive_name.is_some() {
        checks.push((
            "archive-layout",
            archive::check_layout(package, manifest.as_ref()).into(),
        ));
        checks.push((
            "archive-name",
            needs_manifest(
                manifest
                    .as_ref()
                    .map(|m| archive::check_archive_name(package, m))
                    .unwrap_or_default(),
            ),
        ));
    }
    checks.push(("plugin-json", manifest::check_plugin_json(package).into()));
    let with = |f: fn(&Package, &Value) -> Vec<Finding>| {
        needs_manifest(manifest.as_ref().map(|m| f(package, m)).unwrap_or_default())
    };
    checks.push(("schema", with(|_, m| manifest::check_schema(m))));
    checks.push(("logos", with(assets::check_logos)));
    checks.push(("executable", with(executable::check_executable)));
    checks.push(("module-js", frontend::check_module_js(package).into()));
    checks.push(("docs", docs::check_docs(package).into()));
    checks.push(("no-manifest", signature::check_no_manifest(package).into()));
    checks.push(("svg", assets::check_svg(package).into()));
    Report(checks)
}

impl From<Vec<Finding>> for Outcome {
    fn from(findings: Vec<Finding>) -> Self {
        if findings.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(findings)
        }
    }
}

fn join<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern)
        .expect("the schema patterns compile")
        .is_match(text)
}

#[cfg(test)]
mod tests {
    use super::testutil::clean_zip;
    use super::*;
    use crate::testutil::{fixture_dist, TempDir};

    #[test]
    fn a_clean_package_passes() {
        let tmp = TempDir::new("validate-clean");
        let zip = clean_zip(&tmp);
        let report = validate(&archive::load_zip(&zip).unwrap());
        assert!(report.failed().is_empty(), "\n{report}");
        assert!(report.0.iter().all(|(_, o)| matches!(o, Outcome::Passed)));
        assert_eq!(report.0.len(), 10);
        check_zip(&zip).unwrap();

        let folder = validate(&load_folder(&fixture_dist(&tmp)).unwrap());
        assert!(folder.failed().is_empty(), "\n{folder}");
        assert!(!folder.0.iter().any(|(name, _)| name.starts_with("archive")));
    }
}
