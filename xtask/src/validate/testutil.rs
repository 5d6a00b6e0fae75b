//! Helpers for the validator's tests: a clean package, and reports of broken copies of it.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use super::{archive::load_zip, validate, Entry, Package, Report};
use crate::package::package;
use crate::testutil::{fixture_dist, TempDir};

/// A clean zip of the fixture dist.
pub(super) fn clean_zip(tmp: &TempDir) -> PathBuf {
    let dist = fixture_dist(tmp);
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    package(&dist, &out).unwrap().zip
}

/// The fixture dist, loaded as a zip-built package, changed by `change`.
pub(super) fn broken(change: impl FnOnce(&mut Package)) -> Report {
    let tmp = TempDir::new("validate-broken");
    let mut package = load_zip(&clean_zip(&tmp)).unwrap();
    change(&mut package);
    validate(&package)
}

pub(super) fn set_json(package: &mut Package, change: impl FnOnce(&mut Value)) {
    let entry = package.files.get_mut("plugin.json").unwrap();
    let mut json: Value = serde_json::from_slice(&entry.data).unwrap();
    change(&mut json);
    entry.data = serde_json::to_vec_pretty(&json).unwrap();
}

pub(super) fn text_file(data: &str) -> Entry {
    Entry {
        data: data.as_bytes().to_vec(),
        mode: Some(0o644),
    }
}

/// Asserts that exactly the check `name` failed, with a problem containing `needle`,
/// and that every finding names a fix.
#[track_caller]
pub(super) fn assert_fails(report: &Report, name: &str, needle: &str) {
    assert_eq!(report.failed(), [name], "\n{report}");
    assert!(
        report.failures().any(|(_, f)| f.problem.contains(needle)),
        "no `{needle}` in\n{report}"
    );
    for (_, finding) in report.failures() {
        assert!(!finding.fix.is_empty());
    }
}
