//! `cargo xtask validate [ZIP|FOLDER]`: offline checks in the spirit of Grafana's plugin
//! validator. A zip gets every check; a plugin folder (such as `dist/`) every check but the
//! archive's name and layout. Each failure says what is wrong and how to fix it.
//!
//! The plugin.json rules follow Grafana's plugin.json schema (required fields, allowed
//! fields and their types, the id, version, date and Grafana-version patterns); a test
//! compares them with the schema in the shared reference when it is there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use regex_lite::Regex;
use serde_json::{Map, Value};

use crate::dist::{dist_dir, PLUGIN_ID};
use crate::package::Identity;
use crate::platform::Platform;
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
    finish(path, &validate(&load_zip(path)?))
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
/// `seed-ringstream-datasource-*.zip` there.
fn default_package() -> Result<PathBuf> {
    let root = project_root();
    if let Ok(identity) = Identity::of_folder(&dist_dir()) {
        let zip = root.join(identity.zip_name());
        if zip.is_file() {
            return Ok(zip);
        }
    }
    let mut zips: Vec<PathBuf> = fs::read_dir(&root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&format!("{PLUGIN_ID}-")) && name.ends_with(".zip")
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

pub(crate) fn load_zip(path: &Path) -> Result<Package> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", path.display()))?;
    let mut layout = Vec::new();
    let mut entries: Vec<(String, bool, Entry)> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name().to_string();
        if entry.enclosed_name().is_none() || name.contains('\\') {
            layout.push(finding(
                format!("the zip entry `{name}` has an unsafe or non-portable path"),
                "use relative paths with `/`, inside the plugin folder: build the zip with \
                 `cargo xtask package`",
            ));
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let entry_mode = entry.unix_mode();
        entries.push((
            name,
            entry.is_dir(),
            Entry {
                data,
                mode: entry_mode,
            },
        ));
    }

    // The top level: folders (entries with a `/` after the first part) and loose files.
    let mut folders = BTreeSet::new();
    let mut loose = BTreeSet::new();
    for (name, is_dir, _) in &entries {
        match name.split_once('/') {
            Some((top, _)) => folders.insert(top.to_string()),
            None if *is_dir => folders.insert(name.clone()),
            None => loose.insert(name.clone()),
        };
    }
    let fix = format!(
        "zip the plugin folder itself, so the zip holds one folder `{PLUGIN_ID}/` and nothing \
         beside it: `cargo xtask package`"
    );
    if entries.is_empty() && layout.is_empty() {
        layout.push(finding("the zip is empty", fix.clone()));
    }
    if !loose.is_empty() {
        layout.push(finding(
            format!(
                "the zip has files at its top level ({}); Grafana expects all files inside \
                 one folder named after the plugin id",
                join(&loose)
            ),
            fix.clone(),
        ));
    }
    if folders.len() > 1 {
        layout.push(finding(
            format!(
                "the zip holds {} folders ({}); it must hold exactly one",
                folders.len(),
                join(&folders)
            ),
            fix.clone(),
        ));
    }
    // The plugin's folder: the one holding plugin.json, else the only thing in the zip.
    let root = folders
        .iter()
        .find(|top| {
            entries
                .iter()
                .any(|(n, _, _)| *n == format!("{top}/plugin.json"))
        })
        .or_else(|| {
            folders
                .first()
                .filter(|_| folders.len() == 1 && loose.is_empty())
        })
        .cloned();

    let mut files = BTreeMap::new();
    let prefix = root.as_ref().map(|r| format!("{r}/"));
    for (name, is_dir, entry) in entries {
        // Without a plugin folder (a zip made inside dist/), check the files where they are.
        let rel = match &prefix {
            Some(prefix) => name.strip_prefix(prefix.as_str()),
            None => Some(name.as_str()),
        };
        if let Some(rel) = rel.filter(|rel| !is_dir && !rel.is_empty()) {
            files.insert(rel.to_string(), entry);
        }
    }
    Ok(Package {
        archive_name: Some(
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        ),
        layout,
        root,
        files,
    })
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
            check_layout(package, manifest.as_ref()).into(),
        ));
        checks.push((
            "archive-name",
            needs_manifest(
                manifest
                    .as_ref()
                    .map(|m| check_archive_name(package, m))
                    .unwrap_or_default(),
            ),
        ));
    }
    checks.push(("plugin-json", check_plugin_json(package).into()));
    let with = |f: fn(&Package, &Value) -> Vec<Finding>| {
        needs_manifest(manifest.as_ref().map(|m| f(package, m)).unwrap_or_default())
    };
    checks.push(("schema", with(|_, m| check_schema(m))));
    checks.push(("logos", with(check_logos)));
    checks.push(("executable", with(check_executable)));
    checks.push(("module-js", check_module_js(package).into()));
    checks.push(("docs", check_docs(package).into()));
    checks.push(("no-manifest", check_no_manifest(package).into()));
    checks.push(("svg", check_svg(package).into()));
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

// ---- archive ------------------------------------------------------------------------------

fn check_layout(package: &Package, manifest: Option<&Value>) -> Vec<Finding> {
    let mut out = package.layout.clone();
    let id = manifest.and_then(|m| m["id"].as_str());
    match (&package.root, id) {
        (None, _) if out.is_empty() => out.push(finding(
            "the zip holds no plugin folder",
            format!("zip the folder `{PLUGIN_ID}/` with plugin.json inside: `cargo xtask package`"),
        )),
        (Some(root), Some(id)) if root != id => out.push(finding(
            format!("the zip's folder is `{root}/` but the plugin id is `{id}`"),
            format!("name the folder after the id, `{id}/` (`cargo xtask package` does)"),
        )),
        _ => {}
    }
    out
}

fn check_archive_name(package: &Package, manifest: &Value) -> Vec<Finding> {
    let (Some(name), Some(id), Some(version)) = (
        &package.archive_name,
        manifest["id"].as_str(),
        manifest["info"]["version"].as_str(),
    ) else {
        return Vec::new(); // the schema check reports a missing id or version
    };
    let mut expected = vec![format!("{id}-{version}.zip")];
    expected.extend(
        platforms(package, manifest)
            .iter()
            .map(|p| format!("{id}-{version}.{}.zip", p.suffix())),
    );
    if expected.contains(name) {
        return Vec::new();
    }
    vec![finding(
        format!(
            "the zip is named `{name}`; for plugin `{id}` version {version} it must be \
             one of {}",
            join(&expected)
        ),
        "rename it, or build it with `cargo xtask package`, which names it \
         `<id>-<version>.<goos>_<goarch>.zip`",
    )]
}

// ---- plugin.json --------------------------------------------------------------------------

const PLUGIN_JSON_FIX: &str =
    "fix plugin.json at the workspace root (`cargo xtask dist` fills in its placeholders)";

fn check_plugin_json(package: &Package) -> Vec<Finding> {
    let Some(entry) = package.files.get("plugin.json") else {
        return vec![finding(
            "plugin.json is missing from the plugin folder",
            "build the folder with `cargo xtask dist`, which writes plugin.json",
        )];
    };
    match serde_json::from_slice::<Value>(&entry.data) {
        Err(err) => vec![finding(
            format!("plugin.json is not valid JSON: {err}"),
            PLUGIN_JSON_FIX,
        )],
        Ok(value) if !value.is_object() => {
            vec![finding("plugin.json is not a JSON object", PLUGIN_JSON_FIX)]
        }
        Ok(_) => Vec::new(),
    }
}

/// JSON types used by the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Bool,
    Num,
    Obj,
    Arr,
}

impl Ty {
    pub(crate) fn schema_name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Bool => "boolean",
            Ty::Num => "number",
            Ty::Obj => "object",
            Ty::Arr => "array",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            Ty::Str => value.is_string(),
            Ty::Bool => value.is_boolean(),
            Ty::Num => value.is_number(),
            Ty::Obj => value.is_object(),
            Ty::Arr => value.is_array(),
        }
    }
}

use Ty::{Arr, Bool, Num, Obj, Str};

/// The top level of plugin.json: every field the schema allows (it allows no others).
pub(crate) const TOP_LEVEL: &[(&str, Ty)] = &[
    ("id", Str),
    ("type", Str),
    ("info", Obj),
    ("name", Str),
    ("dependencies", Obj),
    ("$schema", Str),
    ("alerting", Bool),
    ("annotations", Bool),
    ("autoEnabled", Bool),
    ("backend", Bool),
    ("buildMode", Str),
    ("builtIn", Bool),
    ("category", Str),
    ("docsPath", Str),
    ("enterpriseFeatures", Obj),
    ("executable", Str),
    ("hideFromList", Bool),
    ("includes", Arr),
    ("logs", Bool),
    ("metrics", Bool),
    ("mixed", Bool),
    ("multiValueFilterOperators", Bool),
    ("pascalName", Str),
    ("preload", Bool),
    ("suggestions", Bool),
    ("queryOptions", Obj),
    ("routes", Arr),
    ("skipDataQuery", Bool),
    ("state", Str),
    ("streaming", Bool),
    ("tracing", Bool),
    ("iam", Obj),
    ("roles", Arr),
    ("extensions", Obj),
    ("languages", Arr),
];
pub(crate) const TOP_REQUIRED: &[&str] = &["type", "name", "id", "info", "dependencies"];
pub(crate) const INFO: &[(&str, Ty)] = &[
    ("author", Obj),
    ("build", Obj),
    ("description", Str),
    ("keywords", Arr),
    ("links", Arr),
    ("logos", Obj),
    ("screenshots", Arr),
    ("updated", Str),
    ("version", Str),
];
pub(crate) const INFO_REQUIRED: &[&str] = &["logos", "version", "updated", "keywords"];
pub(crate) const AUTHOR: &[(&str, Ty)] = &[("name", Str), ("email", Str), ("url", Str)];
pub(crate) const BUILD: &[(&str, Ty)] = &[
    ("time", Num),
    ("repo", Str),
    ("branch", Str),
    ("hash", Str),
    ("number", Num),
    ("pr", Num),
    ("build", Num),
];
pub(crate) const LOGOS: &[(&str, Ty)] = &[("small", Str), ("large", Str)];
pub(crate) const LINK: &[(&str, Ty)] = &[("name", Str), ("url", Str), ("target", Str)];
pub(crate) const LINK_TARGETS: &[&str] = &["_blank", "_self", "_parent", "_top"];
pub(crate) const SCREENSHOT: &[(&str, Ty)] = &[("name", Str), ("path", Str)];
pub(crate) const DEPENDENCIES: &[(&str, Ty)] = &[
    ("grafanaVersion", Str),
    ("grafanaDependency", Str),
    ("plugins", Arr),
    ("extensions", Obj),
];
pub(crate) const DEPENDENCIES_REQUIRED: &[&str] = &["grafanaDependency"];
pub(crate) const TYPES: &[&str] = &["app", "datasource", "panel", "renderer"];
pub(crate) const STATES: &[&str] = &["alpha", "beta", "stable", "deprecated"];
pub(crate) const DEPENDENCY_TYPES: &[&str] = &["app", "datasource", "panel"];
pub(crate) const ID_PATTERN: &str = r"^[0-9a-z]+\-([0-9a-z]+\-)?(app|panel|datasource)$";
pub(crate) const PASCAL_NAME_PATTERN: &str = r"^([A-Z][a-zA-Z]{1,62})$";
pub(crate) const VERSION_PATTERN: &str =
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)|(\%VERSION\%)$";
pub(crate) const UPDATED_PATTERN: &str = r"^(\d{4}-\d{2}-\d{2}|\%TODAY\%)$";
pub(crate) const GRAFANA_VERSION_PATTERN: &str = r"^([0-9]+)(\.[0-9x]+)?(\.[0-9x])?$";
pub(crate) const GRAFANA_DEPENDENCY_PATTERN: &str = r"^(<=|>=|<|>|=|~|\^)?([0-9]+)(\.[0-9x\*]+)?(\.[0-9x\*]+)?(-[0-9A-Za-z-.]+)?(\s(<=|>=|<|=>)?([0-9]+)(\.[0-9x\*]+)?(\.[0-9x\*]+)?(-[0-9A-Za-z-.]+)?)?(\s\|\|\s(<=|>=|<|>|=|~|\^)?([0-9]+)(\.[0-9x\*]+)?(\.[0-9x\*]+)?(-[0-9A-Za-z-.]+)?(\s(<=|>=|<|=>)?([0-9]+)(\.[0-9x\*]+)?(\.[0-9x\*]+)?(-[0-9A-Za-z-.]+)?)?)*$";
/// A released version in a package: full SemVer (stricter than the schema, which also
/// accepts the `%VERSION%` placeholder of the source file).
const SEMVER_PATTERN: &str =
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$";

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern)
        .expect("the schema patterns compile")
        .is_match(text)
}

/// Checks an object's type, its required fields, that it has no unknown fields and the
/// types of its known fields. Returns the object when it is one.
fn check_object<'a>(
    path: &str,
    value: &'a Value,
    fields: &[(&str, Ty)],
    required: &[&str],
    out: &mut Vec<Finding>,
) -> Option<&'a Map<String, Value>> {
    let Some(object) = value.as_object() else {
        out.push(finding(
            format!("`{path}` must be an object, found {}", kind(value)),
            PLUGIN_JSON_FIX,
        ));
        return None;
    };
    for name in required {
        if !object.contains_key(*name) {
            out.push(finding(
                format!("`{}` is required and missing", at(path, name)),
                format!("add `{}` to plugin.json", at(path, name)),
            ));
        }
    }
    for (name, value) in object {
        match fields.iter().find(|(n, _)| n == name) {
            None => out.push(finding(
                format!(
                    "`{}` is not a field Grafana's plugin.json schema allows",
                    at(path, name)
                ),
                format!(
                    "remove it or fix its spelling; `{}` allows: {}",
                    if path.is_empty() { "plugin.json" } else { path },
                    fields
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some((_, ty)) if !ty.matches(value) => out.push(finding(
                format!(
                    "`{}` must be a {}, found {}",
                    at(path, name),
                    ty.schema_name(),
                    kind(value)
                ),
                PLUGIN_JSON_FIX,
            )),
            Some(_) => {}
        }
    }
    Some(object)
}

fn at(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a string field against a pattern or a list of allowed values.
fn check_string(
    path: &str,
    value: Option<&Value>,
    rule: Rule<'_>,
    fix: &str,
    out: &mut Vec<Finding>,
) {
    let Some(text) = value.and_then(Value::as_str) else {
        return; // missing or mistyped: reported by check_object
    };
    let ok = match rule {
        Rule::Pattern(pattern) => matches(pattern, text),
        Rule::OneOf(allowed) => allowed.contains(&text),
    };
    if !ok {
        let expected = match rule {
            Rule::Pattern(pattern) => format!("must match {pattern}"),
            Rule::OneOf(allowed) => format!("must be one of {}", allowed.join(", ")),
        };
        out.push(finding(
            format!("`{path}` is \"{text}\"; it {expected}"),
            fix,
        ));
    }
}

#[derive(Clone, Copy)]
enum Rule<'a> {
    Pattern(&'a str),
    OneOf(&'a [&'a str]),
}

/// Checks each element of an array field: its type, and for objects their fields.
fn check_items(
    path: &str,
    value: Option<&Value>,
    item: Ty,
    fields: &[(&str, Ty)],
    required: &[&str],
    out: &mut Vec<Finding>,
) {
    let Some(items) = value.and_then(Value::as_array) else {
        return;
    };
    for (i, value) in items.iter().enumerate() {
        let path = format!("{path}[{i}]");
        if item == Obj {
            check_object(&path, value, fields, required, out);
        } else if !item.matches(value) {
            out.push(finding(
                format!(
                    "`{path}` must be a {}, found {}",
                    item.schema_name(),
                    kind(value)
                ),
                PLUGIN_JSON_FIX,
            ));
        }
    }
}

/// plugin.json against the rules of Grafana's schema, plus what a built package needs.
pub(crate) fn check_schema(json: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(top) = check_object("", json, TOP_LEVEL, TOP_REQUIRED, &mut out) else {
        return out;
    };
    check_string(
        "id",
        top.get("id"),
        Rule::Pattern(ID_PATTERN),
        "use `<org>-<name>-<type>` in lower case letters and digits, e.g. `seed-ringstream-datasource`",
        &mut out,
    );
    check_string(
        "type",
        top.get("type"),
        Rule::OneOf(TYPES),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    check_string(
        "state",
        top.get("state"),
        Rule::OneOf(STATES),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    check_string(
        "pascalName",
        top.get("pascalName"),
        Rule::Pattern(PASCAL_NAME_PATTERN),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    if let (Some(id), Some(ty)) = (top["id"].as_str(), top["type"].as_str()) {
        if matches(ID_PATTERN, id) && !id.ends_with(&format!("-{ty}")) {
            out.push(finding(
                format!("the id `{id}` does not end in its type `-{ty}`"),
                "make the id's last part the plugin type, e.g. `-datasource`",
            ));
        }
    }

    if let Some(info) = top
        .get("info")
        .and_then(|v| check_object("info", v, INFO, INFO_REQUIRED, &mut out))
    {
        if let Some(author) = info.get("author") {
            check_object("info.author", author, AUTHOR, &[], &mut out);
        }
        if let Some(build) = info.get("build") {
            check_object("info.build", build, BUILD, &[], &mut out);
        }
        if let Some(logos) = info.get("logos") {
            check_object("info.logos", logos, LOGOS, &["small", "large"], &mut out);
        }
        check_items("info.links", info.get("links"), Obj, LINK, &[], &mut out);
        for (i, link) in info
            .get("links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_string(
                &format!("info.links[{i}].target"),
                link.get("target"),
                Rule::OneOf(LINK_TARGETS),
                PLUGIN_JSON_FIX,
                &mut out,
            );
        }
        check_items(
            "info.screenshots",
            info.get("screenshots"),
            Obj,
            SCREENSHOT,
            &[],
            &mut out,
        );
        check_items(
            "info.keywords",
            info.get("keywords"),
            Str,
            &[],
            &[],
            &mut out,
        );
        if info
            .get("keywords")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            out.push(finding(
                "`info.keywords` is empty; the schema needs at least one",
                "add keywords such as \"streaming\" to info.keywords",
            ));
        }
        let version = info.get("version");
        check_string(
            "info.version",
            version,
            Rule::Pattern(VERSION_PATTERN),
            PLUGIN_JSON_FIX,
            &mut out,
        );
        check_string(
            "info.updated",
            info.get("updated"),
            Rule::Pattern(UPDATED_PATTERN),
            "use the date as YYYY-MM-DD",
            &mut out,
        );
        // A package carries real values, not the source file's placeholders.
        for (field, placeholder) in [("version", "%VERSION%"), ("updated", "%TODAY%")] {
            if info.get(field).and_then(Value::as_str) == Some(placeholder) {
                out.push(finding(
                    format!("`info.{field}` is still the placeholder {placeholder}"),
                    "build the folder with `cargo xtask dist`, which fills it in",
                ));
            }
        }
        if let Some(v) = version.and_then(Value::as_str) {
            if v != "%VERSION%" && !matches(SEMVER_PATTERN, v) {
                out.push(finding(
                    format!("`info.version` \"{v}\" is not a SemVer version such as 1.2.3"),
                    "set [workspace.package] version in Cargo.toml and run `cargo xtask dist`",
                ));
            }
        }
    }

    if let Some(deps) = top.get("dependencies").and_then(|v| {
        check_object(
            "dependencies",
            v,
            DEPENDENCIES,
            DEPENDENCIES_REQUIRED,
            &mut out,
        )
    }) {
        check_string(
            "dependencies.grafanaDependency",
            deps.get("grafanaDependency"),
            Rule::Pattern(GRAFANA_DEPENDENCY_PATTERN),
            "use a semver range such as \">=10.4.0\"",
            &mut out,
        );
        check_string(
            "dependencies.grafanaVersion",
            deps.get("grafanaVersion"),
            Rule::Pattern(GRAFANA_VERSION_PATTERN),
            "drop the deprecated grafanaVersion; grafanaDependency replaces it",
            &mut out,
        );
        check_items(
            "dependencies.plugins",
            deps.get("plugins"),
            Obj,
            &[("id", Str), ("type", Str), ("name", Str)],
            &["id", "name", "type"],
            &mut out,
        );
        if let Some(plugins) = deps.get("plugins").and_then(Value::as_array) {
            for (i, plugin) in plugins.iter().enumerate() {
                check_string(
                    &format!("dependencies.plugins[{i}].id"),
                    plugin.get("id"),
                    Rule::Pattern(ID_PATTERN),
                    PLUGIN_JSON_FIX,
                    &mut out,
                );
                check_string(
                    &format!("dependencies.plugins[{i}].type"),
                    plugin.get("type"),
                    Rule::OneOf(DEPENDENCY_TYPES),
                    PLUGIN_JSON_FIX,
                    &mut out,
                );
            }
        }
    }

    if top.get("backend") == Some(&Value::Bool(true)) && !top.contains_key("executable") {
        out.push(finding(
            "`backend` is true but `executable` is missing, so Grafana cannot start the backend",
            "add \"executable\": \"gpx_ringstream\" to plugin.json",
        ));
    }
    out
}

// ---- files --------------------------------------------------------------------------------

fn check_logos(package: &Package, manifest: &Value) -> Vec<Finding> {
    let info = &manifest["info"];
    let mut paths: Vec<(String, &str)> = ["small", "large"]
        .iter()
        .filter_map(|size| {
            info["logos"][*size]
                .as_str()
                .map(|p| (format!("info.logos.{size}"), p))
        })
        .collect();
    if let Some(shots) = info["screenshots"].as_array() {
        paths.extend(shots.iter().enumerate().filter_map(|(i, s)| {
            s["path"]
                .as_str()
                .map(|p| (format!("info.screenshots[{i}].path"), p))
        }));
    }
    paths
        .into_iter()
        .filter(|(_, path)| !package.files.contains_key(path.trim_start_matches("./")))
        .map(|(field, path)| {
            finding(
                format!("`{field}` names `{path}`, which is not in the plugin folder"),
                "add the image (dist copies the workspace's img/ folder) or fix the path, \
                 relative to plugin.json, e.g. img/logo.svg",
            )
        })
        .collect()
}

/// The platforms of the `<executable>_<goos>_<goarch>` files at the plugin folder's top.
fn platforms(package: &Package, manifest: &Value) -> Vec<Platform> {
    let Some(executable) = manifest["executable"].as_str() else {
        return Vec::new();
    };
    package
        .files
        .keys()
        .filter(|name| !name.contains('/'))
        .filter_map(|name| Platform::from_executable_name(executable, name))
        .collect()
}

fn check_executable(package: &Package, manifest: &Value) -> Vec<Finding> {
    if manifest["backend"] != Value::Bool(true) {
        return Vec::new();
    }
    let Some(executable) = manifest["executable"].as_str() else {
        return Vec::new(); // reported by the schema check
    };
    let found = platforms(package, manifest);
    let mut out = Vec::new();
    if found.is_empty() {
        out.push(finding(
            format!(
                "no backend executable: plugin.json declares `{executable}`, so Grafana looks \
                 for `{executable}_<goos>_<goarch>` (e.g. `{executable}_linux_amd64`) beside \
                 plugin.json"
            ),
            "build the folder with `cargo xtask dist` (or `--target TRIPLE` for another platform)",
        ));
    }
    for platform in &found {
        let name = platform.executable_name(executable);
        let Some(entry) = package.files.get(&name) else {
            continue; // a `.exe` name on a non-windows platform or the like: not Grafana's
        };
        if platform.goos != "windows" && entry.mode.is_none_or(|m| m & 0o111 == 0) {
            out.push(finding(
                format!("`{name}` has no execute bit, so Grafana cannot start it"),
                "zip with Unix permissions kept (`cargo xtask package` does), or `chmod 755` it",
            ));
        }
        if let Some(problem) = wrong_binary_format(platform, &entry.data) {
            out.push(finding(
                format!("`{name}` {problem}"),
                "build it for that platform: `cargo xtask dist --target TRIPLE`",
            ));
        }
    }
    out
}

/// Whether `data` starts like an executable for `platform`.
fn wrong_binary_format(platform: &Platform, data: &[u8]) -> Option<&'static str> {
    let ok = match platform.goos.as_str() {
        "linux" | "freebsd" => data.starts_with(b"\x7fELF"),
        "darwin" => [
            [0xcf, 0xfa, 0xed, 0xfe],
            [0xce, 0xfa, 0xed, 0xfe],
            [0xca, 0xfe, 0xba, 0xbe],
        ]
        .iter()
        .any(|magic| data.starts_with(magic)),
        "windows" => data.starts_with(b"MZ"),
        _ => true,
    };
    (!ok).then_some(match platform.goos.as_str() {
        "darwin" => "is not a macOS (Mach-O) executable",
        "windows" => "is not a Windows (PE) executable",
        _ => "is not an ELF executable",
    })
}

/// Code Grafana's Angular detector refuses a plugin for (Angular support is gone).
const ANGULAR_PATTERNS: &[&str] = &[
    "PanelCtrl",
    "ConfigCtrl",
    "app/plugins/sdk",
    "angular.isNumber(",
    "editor.html",
    "ctrl.annotation",
    "getLegacyAngularInjector",
    "'QueryCtrl'",
    "\"QueryCtrl\"",
];

fn check_module_js(package: &Package) -> Vec<Finding> {
    let Some(module) = package.files.get("module.js") else {
        return vec![finding(
            "module.js is missing, so Grafana has no frontend (no query or config editor)",
            "build the folder with `cargo xtask dist`, which copies \
             crates/plugin/frontend/module.js (or writes a minimal one)",
        )];
    };
    let text = String::from_utf8_lossy(&module.data);
    let mut out = Vec::new();
    if text.trim().is_empty() {
        out.push(finding(
            "module.js is empty",
            "it must be an AMD module exporting `plugin`: rebuild with `cargo xtask dist`",
        ));
    }
    for pattern in ANGULAR_PATTERNS {
        if text.contains(pattern) {
            out.push(finding(
                format!("module.js contains `{pattern}`, an Angular-era pattern Grafana refuses"),
                "remove the Angular code; use a React editor from @grafana/ui",
            ));
        }
    }
    out
}

fn check_docs(package: &Package) -> Vec<Finding> {
    let mut out = Vec::new();
    for (names, why) in [
        (&["README.md"][..], "the plugin page in Grafana shows it"),
        (
            &["CHANGELOG.md"][..],
            "the catalog shows the changes of each version",
        ),
        (
            &["LICENSE", "LICENSE.md", "LICENSE.txt"][..],
            "a distributed plugin states its license",
        ),
    ] {
        match names.iter().find_map(|n| package.files.get(*n)) {
            None => out.push(finding(
                format!("{} is missing; {why}", names[0]),
                format!(
                    "add {} at the workspace root and rebuild with `cargo xtask dist`",
                    names[0]
                ),
            )),
            Some(entry) if String::from_utf8_lossy(&entry.data).trim().is_empty() => {
                out.push(finding(
                    format!("{} is empty; {why}", names[0]),
                    format!("write {} and rebuild with `cargo xtask dist`", names[0]),
                ))
            }
            Some(_) => {}
        }
    }
    out
}

fn check_no_manifest(package: &Package) -> Vec<Finding> {
    package
        .files
        .keys()
        .filter(|name| name.rsplit('/').next() == Some("MANIFEST.txt"))
        .map(|name| {
            finding(
                format!(
                    "`{name}` is present: a signature manifest that does not match the files \
                     makes Grafana refuse the plugin, and this package is unsigned"
                ),
                "delete it; sign only the final package (`npx @grafana/sign-plugin`), after \
                 every change",
            )
        })
        .collect()
}

fn check_svg(package: &Package) -> Vec<Finding> {
    let unsafe_content = [
        (r"(?i)<script", "a <script> element"),
        (r"(?i)<foreignobject", "a <foreignObject> element"),
        (r"(?i)\son[a-z]+\s*=", "an event handler attribute (on...=)"),
        (r"(?i)javascript:", "a javascript: URL"),
        (r"(?i)<!(entity|doctype)", "a DOCTYPE or ENTITY declaration"),
        (
            r#"(?i)href\s*=\s*["']\s*(https?:|//|data:|file:)"#,
            "a link to an external resource",
        ),
        (
            r"(?i)url\(\s*['\x22]?\s*(https?:|//|data:)",
            "an external url()",
        ),
        (r"(?i)@import", "a CSS @import"),
    ];
    let mut out = Vec::new();
    for (name, entry) in &package.files {
        if !name.to_ascii_lowercase().ends_with(".svg") {
            continue;
        }
        let text = String::from_utf8_lossy(&entry.data);
        if !text.contains("<svg") {
            out.push(finding(
                format!("`{name}` is not an SVG image (no <svg> element)"),
                "replace it with an SVG file",
            ));
        }
        for (pattern, what) in unsafe_content {
            if matches(pattern, &text) {
                out.push(finding(
                    format!("`{name}` contains {what}, which is unsafe in an SVG"),
                    "remove it: logos must be plain shapes, with no scripts and no external \
                     references",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::package::{package, write_zip};
    use crate::testutil::{fixture_dist, TempDir};

    /// A clean zip of the fixture dist.
    fn clean_zip(tmp: &TempDir) -> PathBuf {
        let dist = fixture_dist(tmp);
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        package(&dist, &out).unwrap().zip
    }

    /// The fixture dist, loaded as a zip-built package, changed by `change`.
    fn broken(change: impl FnOnce(&mut Package)) -> Report {
        let tmp = TempDir::new("validate-broken");
        let mut package = load_zip(&clean_zip(&tmp)).unwrap();
        change(&mut package);
        validate(&package)
    }

    fn set_json(package: &mut Package, change: impl FnOnce(&mut Value)) {
        let entry = package.files.get_mut("plugin.json").unwrap();
        let mut json: Value = serde_json::from_slice(&entry.data).unwrap();
        change(&mut json);
        entry.data = serde_json::to_vec_pretty(&json).unwrap();
    }

    fn text_file(data: &str) -> Entry {
        Entry {
            data: data.as_bytes().to_vec(),
            mode: Some(0o644),
        }
    }

    /// Asserts that exactly the check `name` failed, with a problem containing `needle`,
    /// and that every finding names a fix.
    #[track_caller]
    fn assert_fails(report: &Report, name: &str, needle: &str) {
        assert_eq!(report.failed(), [name], "\n{report}");
        assert!(
            report.failures().any(|(_, f)| f.problem.contains(needle)),
            "no `{needle}` in\n{report}"
        );
        for (_, finding) in report.failures() {
            assert!(!finding.fix.is_empty());
        }
    }

    #[test]
    fn a_clean_package_passes() {
        let tmp = TempDir::new("validate-clean");
        let zip = clean_zip(&tmp);
        let report = validate(&load_zip(&zip).unwrap());
        assert!(report.failed().is_empty(), "\n{report}");
        assert!(report.0.iter().all(|(_, o)| matches!(o, Outcome::Passed)));
        assert_eq!(report.0.len(), 10);
        check_zip(&zip).unwrap();

        let folder = validate(&load_folder(&fixture_dist(&tmp)).unwrap());
        assert!(folder.failed().is_empty(), "\n{folder}");
        assert!(!folder.0.iter().any(|(name, _)| name.starts_with("archive")));
    }

    #[test]
    fn the_repos_plugin_json_follows_the_schema_rules() {
        let template = fs::read_to_string(project_root().join("plugin.json")).unwrap();
        let json: Value = serde_json::from_str(&template).unwrap();
        let findings = check_schema(&json);
        // The source file only has its placeholders to complain about.
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings.iter().all(|f| f.problem.contains("placeholder")));
    }

    #[test]
    fn fails_on_a_badly_named_zip() {
        let tmp = TempDir::new("validate-name");
        let zip = clean_zip(&tmp);
        for bad in [
            "ringstream.zip",
            "seed-ringstream-datasource-0.2.0.linux_amd64.zip",
        ] {
            let renamed = tmp.path().join(bad);
            fs::copy(&zip, &renamed).unwrap();
            let report = validate(&load_zip(&renamed).unwrap());
            assert_fails(&report, "archive-name", "must be");
            assert!(check_zip(&renamed).is_err());
        }
        let any = tmp.path().join("seed-ringstream-datasource-0.1.0.zip");
        fs::copy(&zip, &any).unwrap();
        assert!(validate(&load_zip(&any).unwrap()).failed().is_empty());
    }

    #[test]
    fn fails_on_a_zip_without_its_single_folder() {
        let tmp = TempDir::new("validate-layout");
        let dist = fixture_dist(&tmp);

        // Files at the top level (zipped from inside dist/).
        let flat = tmp
            .path()
            .join("seed-ringstream-datasource-0.1.0.linux_amd64.zip");
        let file = File::create(&flat).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        for name in ["plugin.json", "module.js"] {
            zip.start_file(name, SimpleFileOptions::default()).unwrap();
            zip.write_all(&fs::read(dist.join(name)).unwrap()).unwrap();
        }
        zip.finish().unwrap();
        let report = validate(&load_zip(&flat).unwrap());
        assert!(report.failed().contains(&"archive-layout"), "\n{report}");
        assert!(report
            .failures()
            .any(|(_, f)| f.problem.contains("top level")));

        // A folder not named after the id.
        let wrong = tmp
            .path()
            .join("wrong")
            .join("seed-ringstream-datasource-0.1.0.linux_amd64.zip");
        fs::create_dir_all(wrong.parent().unwrap()).unwrap();
        write_zip(&dist, "ringstream", &wrong).unwrap();
        assert_fails(
            &validate(&load_zip(&wrong).unwrap()),
            "archive-layout",
            "the plugin id is `seed-ringstream-datasource`",
        );

        // Two folders.
        let report = broken(|p| p.layout.push(finding("two folders", "fix")));
        assert_fails(&report, "archive-layout", "two folders");
    }

    #[test]
    fn fails_on_a_missing_or_broken_plugin_json() {
        let report = broken(|p| {
            p.files.remove("plugin.json");
        });
        assert!(report.failed().contains(&"plugin-json"), "\n{report}");
        assert!(report
            .failures()
            .any(|(_, f)| f.problem.contains("missing")));
        assert!(report
            .0
            .iter()
            .any(|(name, o)| *name == "schema" && matches!(o, Outcome::Skipped(_))));

        let report = broken(|p| {
            p.files
                .insert("plugin.json".into(), text_file("{ not json"));
        });
        assert!(report.failed().contains(&"plugin-json"), "\n{report}");
    }

    /// Sets (or with `None` removes) the value at a JSON pointer such as `/info/version`.
    fn edit(json: &mut Value, pointer: &str, value: Option<Value>) {
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        let parent = json.pointer_mut(parent).unwrap();
        match (value, parent) {
            (Some(v), Value::Array(items)) => items[last.parse::<usize>().unwrap()] = v,
            (Some(v), Value::Object(map)) => drop(map.insert(last.to_string(), v)),
            (None, Value::Object(map)) => drop(map.remove(last)),
            _ => panic!("cannot edit {pointer}"),
        }
    }

    #[test]
    fn fails_on_each_schema_rule() {
        use serde_json::json;
        let cases = [
            ("`name` is required", "/name", None),
            ("`info.version` is required", "/info/version", None),
            (
                "`dependencies.grafanaDependency` is required",
                "/dependencies/grafanaDependency",
                None,
            ),
            ("`info.logos.large` is required", "/info/logos/large", None),
            ("`executable` is missing", "/executable", None),
            ("`id` is \"Ringstream\"", "/id", Some(json!("Ringstream"))),
            ("`type` is \"source\"", "/type", Some(json!("source"))),
            ("does not end in its type", "/type", Some(json!("panel"))),
            ("`state` is \"done\"", "/state", Some(json!("done"))),
            (
                "`streaming` must be a boolean",
                "/streaming",
                Some(json!("yes")),
            ),
            ("`info` must be an object", "/info", Some(json!([]))),
            (
                "`info.keywords[0]` must be a string",
                "/info/keywords/0",
                Some(json!(3)),
            ),
            (
                "`info.keywords` is empty",
                "/info/keywords",
                Some(json!([])),
            ),
            (
                "`info.links[0]` must be an object",
                "/info/links/0",
                Some(json!("x")),
            ),
            (
                "`info.links[0].target` is \"new\"",
                "/info/links/0/target",
                Some(json!("new")),
            ),
            (
                "`info.author.name` must be a string",
                "/info/author/name",
                Some(json!(1)),
            ),
            (
                "`info.updated` is \"4 March\"",
                "/info/updated",
                Some(json!("4 March")),
            ),
            ("not a SemVer version", "/info/version", Some(json!("1.0"))),
            (
                "still the placeholder %VERSION%",
                "/info/version",
                Some(json!("%VERSION%")),
            ),
            (
                "still the placeholder %TODAY%",
                "/info/updated",
                Some(json!("%TODAY%")),
            ),
            (
                "`dependencies.grafanaDependency` is \"newest\"",
                "/dependencies/grafanaDependency",
                Some(json!("newest")),
            ),
            ("`streming` is not a field", "/streming", Some(json!(true))),
            (
                "`info.logo` is not a field",
                "/info/logo",
                Some(json!("img/logo.svg")),
            ),
            (
                "`dependencies.plugins[0].name` is required",
                "/dependencies/plugins",
                Some(json!([{ "id": "grafana-x-datasource", "type": "datasource" }])),
            ),
        ];
        for (needle, pointer, value) in cases {
            let report = broken(|p| set_json(p, |j| edit(j, pointer, value)));
            assert!(report.failed().contains(&"schema"), "{needle}:\n{report}");
            assert!(
                report
                    .failures()
                    .any(|(name, f)| name == "schema" && f.problem.contains(needle)),
                "no `{needle}` in\n{report}"
            );
        }
    }

    #[test]
    fn fails_on_missing_logos() {
        let report = broken(|p| {
            p.files.remove("img/logo.svg");
        });
        assert_fails(
            &report,
            "logos",
            "`img/logo.svg`, which is not in the plugin folder",
        );
        let report =
            broken(|p| set_json(p, |j| j["info"]["logos"]["small"] = "img/small.png".into()));
        assert_fails(&report, "logos", "img/small.png");
    }

    #[test]
    fn fails_on_a_missing_or_unusable_executable() {
        let report = broken(|p| {
            p.files.remove("gpx_ringstream_linux_amd64");
        });
        assert!(report.failed().contains(&"executable"), "\n{report}");
        assert!(report
            .failures()
            .any(|(_, f)| f.problem.contains("gpx_ringstream_linux_amd64")));

        let report = broken(|p| {
            p.files.get_mut("gpx_ringstream_linux_amd64").unwrap().mode = Some(0o644);
        });
        assert_fails(&report, "executable", "no execute bit");

        let report = broken(|p| {
            p.files.get_mut("gpx_ringstream_linux_amd64").unwrap().mode = None;
        });
        assert_fails(&report, "executable", "no execute bit");

        let report = broken(|p| {
            p.files.get_mut("gpx_ringstream_linux_amd64").unwrap().data = b"MZ\x90\x00".to_vec();
        });
        assert_fails(&report, "executable", "not an ELF executable");

        // Named for another executable than plugin.json declares.
        let report = broken(|p| {
            let exe = p.files.remove("gpx_ringstream_linux_amd64").unwrap();
            p.files.insert("gpx_other_linux_amd64".into(), exe);
        });
        assert!(report.failed().contains(&"executable"), "\n{report}");
    }

    #[test]
    fn a_zip_that_lost_the_execute_bit_fails() {
        let tmp = TempDir::new("validate-bits");
        let dist = fixture_dist(&tmp);
        // Zip by hand with default permissions, as a careless zip tool might.
        let zip_path = tmp
            .path()
            .join("seed-ringstream-datasource-0.1.0.linux_amd64.zip");
        let mut zip = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        crate::testutil::walk(&dist, &mut |rel, path| {
            let options = SimpleFileOptions::default().unix_permissions(0o644);
            zip.start_file(format!("seed-ringstream-datasource/{rel}"), options)
                .unwrap();
            zip.write_all(&fs::read(path).unwrap()).unwrap();
        });
        zip.finish().unwrap();
        assert_fails(
            &validate(&load_zip(&zip_path).unwrap()),
            "executable",
            "no execute bit",
        );
    }

    #[test]
    fn fails_on_a_missing_empty_or_angular_module_js() {
        let report = broken(|p| {
            p.files.remove("module.js");
        });
        assert_fails(&report, "module-js", "module.js is missing");
        let report = broken(|p| {
            p.files.insert("module.js".into(), text_file("\n"));
        });
        assert_fails(&report, "module-js", "empty");
        let report = broken(|p| {
            p.files.insert(
                "module.js".into(),
                text_file("define(['app/plugins/sdk'], function (sdk) { class QueryCtrl extends sdk.QueryCtrl {} });"),
            );
        });
        assert_fails(&report, "module-js", "app/plugins/sdk");
    }

    #[test]
    fn fails_on_missing_docs() {
        for name in ["README.md", "CHANGELOG.md", "LICENSE"] {
            let report = broken(|p| {
                p.files.remove(name);
            });
            assert_fails(&report, "docs", &format!("{name} is missing"));
        }
        let report = broken(|p| {
            p.files.insert("README.md".into(), text_file("  \n"));
        });
        assert_fails(&report, "docs", "README.md is empty");
    }

    #[test]
    fn fails_on_a_manifest() {
        let report = broken(|p| {
            p.files.insert(
                "MANIFEST.txt".into(),
                text_file("-----BEGIN PGP SIGNED MESSAGE-----"),
            );
        });
        assert_fails(&report, "no-manifest", "MANIFEST.txt");
    }

    #[test]
    fn fails_on_unsafe_svg() {
        let logo = |extra: &str| {
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 8 8\">{extra}<circle r=\"4\"/></svg>")
        };
        for (extra, needle) in [
            ("<script>alert(1)</script>", "<script>"),
            ("<rect onload=\"alert(1)\"/>", "event handler"),
            ("<a href=\"javascript:alert(1)\"><rect/></a>", "javascript:"),
            (
                "<image href=\"https://example.com/x.png\"/>",
                "external resource",
            ),
            (
                "<image xlink:href='//example.com/x.png'/>",
                "external resource",
            ),
            ("<foreignObject><div/></foreignObject>", "foreignObject"),
            (
                "<style>@import 'https://example.com/a.css';</style>",
                "@import",
            ),
            ("<rect style=\"fill:url(https://example.com/p)\"/>", "url()"),
        ] {
            let report = broken(|p| {
                p.files
                    .insert("img/logo.svg".into(), text_file(&logo(extra)));
            });
            assert_fails(&report, "svg", needle);
        }
        let report = broken(|p| {
            p.files.insert("img/logo.svg".into(), text_file("GIF89a"));
        });
        assert_fails(&report, "svg", "not an SVG image");
        // The repository's own logo is clean (the clean package includes it).
        let logo = fs::read_to_string(project_root().join("img/logo.svg")).unwrap();
        assert!(logo.contains("<svg"));
    }

    #[test]
    fn rejects_unsafe_paths_in_zips() {
        let tmp = TempDir::new("validate-paths");
        let zip_path = tmp
            .path()
            .join("seed-ringstream-datasource-0.1.0.linux_amd64.zip");
        let mut zip = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        zip.start_file(
            "seed-ringstream-datasource/../../evil",
            SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(b"x").unwrap();
        zip.finish().unwrap();
        let package = load_zip(&zip_path).unwrap();
        assert!(package.layout.iter().any(|f| f.problem.contains("unsafe")));
        assert!(validate(&package).failed().contains(&"archive-layout"));
    }

    /// Our rules against Grafana's own schema, when the shared reference copy is here.
    #[test]
    fn rules_match_grafanas_schema() {
        let candidates = [
            project_root().join("../shared/reference/plugin.schema.json"),
            PathBuf::from("/work/shared/reference/plugin.schema.json"),
        ];
        let Some(text) = candidates.iter().find_map(|p| fs::read_to_string(p).ok()) else {
            eprintln!("plugin.schema.json not found beside the workspace; skipping");
            return;
        };
        let schema: Value = serde_json::from_str(&text).unwrap();
        let names = |v: &Value| -> BTreeSet<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let own =
            |list: &[&str]| -> BTreeSet<String> { list.iter().map(|s| s.to_string()).collect() };
        let fields = |props: &Value, ours: &[(&str, Ty)], what: &str| {
            let props = props.as_object().unwrap();
            let theirs: BTreeSet<&String> = props.keys().collect();
            let mine: BTreeSet<String> = ours.iter().map(|(n, _)| n.to_string()).collect();
            assert_eq!(theirs, mine.iter().collect(), "{what} fields");
            for (name, ty) in ours {
                assert_eq!(props[*name]["type"], ty.schema_name(), "{what}.{name}");
            }
        };
        let p = &schema["properties"];
        fields(p, TOP_LEVEL, "top level");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(names(&schema["required"]), own(TOP_REQUIRED));
        let info = &p["info"];
        fields(&info["properties"], INFO, "info");
        assert_eq!(names(&info["required"]), own(INFO_REQUIRED));
        fields(
            &info["properties"]["author"]["properties"],
            AUTHOR,
            "info.author",
        );
        fields(
            &info["properties"]["build"]["properties"],
            BUILD,
            "info.build",
        );
        fields(
            &info["properties"]["logos"]["properties"],
            LOGOS,
            "info.logos",
        );
        fields(
            &info["properties"]["links"]["items"]["properties"],
            LINK,
            "info.links[]",
        );
        fields(
            &info["properties"]["screenshots"]["items"]["properties"],
            SCREENSHOT,
            "info.screenshots[]",
        );
        assert_eq!(info["properties"]["keywords"]["minItems"], 1);
        assert_eq!(
            names(&info["properties"]["links"]["items"]["properties"]["target"]["enum"]),
            own(LINK_TARGETS)
        );
        let deps = &p["dependencies"];
        fields(&deps["properties"], DEPENDENCIES, "dependencies");
        assert_eq!(names(&deps["required"]), own(DEPENDENCIES_REQUIRED));
        assert_eq!(p["id"]["pattern"], ID_PATTERN);
        assert_eq!(names(&p["type"]["enum"]), own(TYPES));
        assert_eq!(names(&p["state"]["enum"]), own(STATES));
        assert_eq!(p["pascalName"]["pattern"], PASCAL_NAME_PATTERN);
        assert_eq!(info["properties"]["version"]["pattern"], VERSION_PATTERN);
        assert_eq!(info["properties"]["updated"]["pattern"], UPDATED_PATTERN);
        assert_eq!(
            deps["properties"]["grafanaDependency"]["pattern"],
            GRAFANA_DEPENDENCY_PATTERN
        );
        assert_eq!(
            deps["properties"]["grafanaVersion"]["pattern"],
            GRAFANA_VERSION_PATTERN
        );
        let dep = &deps["properties"]["plugins"]["items"];
        assert_eq!(names(&dep["required"]), own(&["id", "name", "type"]));
        assert_eq!(dep["properties"]["id"]["pattern"], ID_PATTERN);
        assert_eq!(
            names(&dep["properties"]["type"]["enum"]),
            own(DEPENDENCY_TYPES)
        );
    }

    #[test]
    fn schema_patterns_accept_and_refuse_what_grafana_does() {
        assert!(matches(ID_PATTERN, "seed-ringstream-datasource"));
        assert!(matches(ID_PATTERN, "grafana-datasource"));
        assert!(!matches(ID_PATTERN, "seed_ringstream-datasource"));
        assert!(!matches(ID_PATTERN, "Seed-ringstream-datasource"));
        assert!(!matches(ID_PATTERN, "seed-ringstream-stream-datasource"));
        assert!(matches(GRAFANA_DEPENDENCY_PATTERN, ">=10.4.0"));
        assert!(matches(GRAFANA_DEPENDENCY_PATTERN, ">=10.4.0 <12.0.0"));
        assert!(matches(GRAFANA_DEPENDENCY_PATTERN, "^11.0.0 || ^12.0.0"));
        assert!(!matches(GRAFANA_DEPENDENCY_PATTERN, "latest"));
        assert!(matches(UPDATED_PATTERN, "2025-03-04"));
        assert!(matches(UPDATED_PATTERN, "%TODAY%"));
        assert!(matches(VERSION_PATTERN, "0.1.0"));
        assert!(matches(SEMVER_PATTERN, "1.2.3-rc.1+build.5"));
        assert!(!matches(SEMVER_PATTERN, "1.2"));
    }
}
