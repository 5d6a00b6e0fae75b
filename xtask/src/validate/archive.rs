//! The zip itself: safe entry paths, one folder named after the plugin id, and a file name
//! `<id>-<version>[.<goos>_<goarch>].zip`. These checks run only on a zip.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::executable::platforms;
use super::{finding, join, Entry, Finding, Package};

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
    let fix = "zip the plugin folder itself, so the zip holds one folder named after the \
               plugin id (plugin.json's `id`) and nothing beside it: `cargo xtask package`";
    if entries.is_empty() && layout.is_empty() {
        layout.push(finding("the zip is empty", fix));
    }
    if !loose.is_empty() {
        layout.push(finding(
            format!(
                "the zip has files at its top level ({}); Grafana expects all files inside \
                 one folder named after the plugin id",
                join(&loose)
            ),
            fix,
        ));
    }
    if folders.len() > 1 {
        layout.push(finding(
            format!(
                "the zip holds {} folders ({}); it must hold exactly one",
                folders.len(),
                join(&folders)
            ),
            fix,
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

pub(super) fn check_layout(package: &Package, manifest: Option<&Value>) -> Vec<Finding> {
    let mut out = package.layout.clone();
    let id = manifest.and_then(|m| m["id"].as_str());
    match (&package.root, id) {
        (None, _) if out.is_empty() => out.push(finding(
            "the zip holds no plugin folder",
            format!(
                "zip the folder `{}/` with plugin.json inside: `cargo xtask package`",
                id.unwrap_or("<plugin id>")
            ),
        )),
        (Some(root), Some(id)) if root != id => out.push(finding(
            format!("the zip's folder is `{root}/` but the plugin id is `{id}`"),
            format!("name the folder after the id, `{id}/` (`cargo xtask package` does)"),
        )),
        _ => {}
    }
    out
}

pub(super) fn check_archive_name(package: &Package, manifest: &Value) -> Vec<Finding> {
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::package::write_zip;
    use crate::testutil::{fixture_dist, TempDir};
    use crate::validate::testutil::{assert_fails, broken, clean_zip};
    use crate::validate::{check_zip, validate};

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
}
