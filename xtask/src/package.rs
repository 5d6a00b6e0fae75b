//! `cargo xtask package`: zips `dist/` the way Grafana distributes plugins — one folder
//! named after the plugin id, execute bits kept — as
//! `seed-ringstream-datasource-<version>.<goos>_<goarch>.zip`, with `.sha1` and `.md5` beside it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::dist::dist_dir;
use crate::platform::Platform;
use crate::util::project_root;

pub(crate) fn run() -> Result<()> {
    let dist = dist_dir();
    let written = package(&dist, &project_root())?;
    println!(
        "packaged {}\n  {}\n  {}\ncheck it with: cargo xtask validate {}",
        written.zip.display(),
        written.sha1.display(),
        written.md5.display(),
        written.zip.display()
    );
    Ok(())
}

/// The files [`package`] wrote.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) zip: PathBuf,
    pub(crate) sha1: PathBuf,
    pub(crate) md5: PathBuf,
}

/// What a plugin folder says about itself: its id, version and executables' platforms.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) platforms: Vec<Platform>,
}

impl Identity {
    /// Reads `plugin.json` and looks for `<executable>_<goos>_<goarch>` files in `folder`.
    pub(crate) fn of_folder(folder: &Path) -> Result<Self> {
        let manifest = folder.join("plugin.json");
        if !manifest.is_file() {
            bail!(
                "{} does not exist: run `cargo xtask dist` first",
                manifest.display()
            );
        }
        let json: Value = serde_json::from_str(&fs::read_to_string(&manifest)?)
            .with_context(|| format!("{} is not JSON", manifest.display()))?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let id = text(&json["id"]).context("plugin.json has no string `id`")?;
        let version =
            text(&json["info"]["version"]).context("plugin.json has no string `info.version`")?;
        let mut platforms = Vec::new();
        if let Some(executable) = json["executable"].as_str() {
            let mut names: Vec<String> = fs::read_dir(folder)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            platforms.extend(
                names
                    .iter()
                    .filter_map(|n| Platform::from_executable_name(executable, n)),
            );
        }
        Ok(Self {
            id,
            version,
            platforms,
        })
    }

    /// `<id>-<version>.<goos>_<goarch>.zip` for one platform, `<id>-<version>.zip` for several.
    pub(crate) fn zip_name(&self) -> String {
        match self.platforms.as_slice() {
            [one] => format!("{}-{}.{}.zip", self.id, self.version, one.suffix()),
            _ => format!("{}-{}.zip", self.id, self.version),
        }
    }
}

/// Zips the plugin folder `folder` into `out_dir`, with checksum files beside the zip.
pub(crate) fn package(folder: &Path, out_dir: &Path) -> Result<Written> {
    let identity = Identity::of_folder(folder)?;
    if identity.version.contains('%') {
        bail!(
            "plugin.json in {} still has placeholders: run `cargo xtask dist`",
            folder.display()
        );
    }
    let zip = out_dir.join(identity.zip_name());
    write_zip(folder, &identity.id, &zip)?;

    let bytes = fs::read(&zip)?;
    let name = identity.zip_name();
    let sha1 = PathBuf::from(format!("{}.sha1", zip.display()));
    let md5 = PathBuf::from(format!("{}.md5", zip.display()));
    // The format of `sha1sum` / `md5sum`, so `sha1sum -c` checks it.
    fs::write(
        &sha1,
        format!("{}  {name}\n", sha1_smol::Sha1::from(&bytes).hexdigest()),
    )?;
    fs::write(&md5, format!("{:x}  {name}\n", md5::compute(&bytes)))?;
    Ok(Written { zip, sha1, md5 })
}

/// Writes `zip_path` holding the files of `folder` under a single folder `root_name/`.
pub(crate) fn write_zip(folder: &Path, root_name: &str, zip_path: &Path) -> Result<()> {
    let file =
        File::create(zip_path).with_context(|| format!("creating {}", zip_path.display()))?;
    let mut zip = ZipWriter::new(file);
    let dir_options = SimpleFileOptions::default().unix_permissions(0o755);
    zip.add_directory(format!("{root_name}/"), dir_options)?;
    add_dir(&mut zip, folder, root_name)?;
    zip.finish()?;
    Ok(())
}

fn add_dir(zip: &mut ZipWriter<File>, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            zip.add_directory(
                format!("{name}/"),
                SimpleFileOptions::default().unix_permissions(0o755),
            )?;
            add_dir(zip, &path, &name)?;
        } else {
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(file_mode(&path)?);
            zip.start_file(name, options)?;
            zip.write_all(&fs::read(&path)?)?;
        }
    }
    Ok(())
}

/// The file's permission bits: kept as they are on Unix (so the execute bit survives).
#[cfg(unix)]
fn file_mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

/// Without Unix permissions: 0o755 for files named like a backend executable, else 0o644.
#[cfg(not(unix))]
fn file_mode(path: &Path) -> Result<u32> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let executable = Platform::from_executable_name(crate::dist::BINARY, &name).is_some();
    Ok(if executable { 0o755 } else { 0o644 })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;
    use crate::testutil::{fixture_dist, TempDir, FAKE_ELF};

    /// name -> (unix mode, contents) of every entry.
    fn entries(zip_path: &Path) -> BTreeMap<String, (Option<u32>, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(File::open(zip_path).unwrap()).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut entry = archive.by_index(i).unwrap();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (entry.name().to_string(), (entry.unix_mode(), data))
            })
            .collect()
    }

    #[test]
    fn names_the_zip_after_id_version_and_platform() {
        let tmp = TempDir::new("package-name");
        let dist = fixture_dist(&tmp);
        let identity = Identity::of_folder(&dist).unwrap();
        assert_eq!(
            identity.zip_name(),
            "seed-ringstream-datasource-0.1.0.linux_amd64.zip"
        );

        // With executables for several platforms the name has no platform.
        fs::copy(
            dist.join("gpx_ringstream_linux_amd64"),
            dist.join("gpx_ringstream_darwin_arm64"),
        )
        .unwrap();
        assert_eq!(
            Identity::of_folder(&dist).unwrap().zip_name(),
            "seed-ringstream-datasource-0.1.0.zip"
        );
    }

    #[test]
    fn zips_one_folder_with_execute_bits_and_checksums() {
        let tmp = TempDir::new("package-zip");
        let dist = fixture_dist(&tmp);
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let written = package(&dist, &out).unwrap();
        assert_eq!(
            written.zip,
            out.join("seed-ringstream-datasource-0.1.0.linux_amd64.zip")
        );

        let entries = entries(&written.zip);
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "seed-ringstream-datasource/",
                "seed-ringstream-datasource/CHANGELOG.md",
                "seed-ringstream-datasource/LICENSE",
                "seed-ringstream-datasource/README.md",
                "seed-ringstream-datasource/gpx_ringstream_linux_amd64",
                "seed-ringstream-datasource/img/",
                "seed-ringstream-datasource/img/config-editor.png",
                "seed-ringstream-datasource/img/logo.svg",
                "seed-ringstream-datasource/img/query-editor-mqtt.png",
                "seed-ringstream-datasource/img/query-editor-signal.png",
                "seed-ringstream-datasource/module.js",
                "seed-ringstream-datasource/module.js.map",
                "seed-ringstream-datasource/plugin.json",
            ]
        );
        let (mode, data) = &entries["seed-ringstream-datasource/gpx_ringstream_linux_amd64"];
        assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
        assert_eq!(data.as_slice(), FAKE_ELF);
        let (mode, data) = &entries["seed-ringstream-datasource/plugin.json"];
        assert_eq!(mode.map(|m| m & 0o111), Some(0));
        assert_eq!(data, &fs::read(dist.join("plugin.json")).unwrap());

        let bytes = fs::read(&written.zip).unwrap();
        let name = "seed-ringstream-datasource-0.1.0.linux_amd64.zip";
        assert_eq!(
            fs::read_to_string(&written.sha1).unwrap(),
            format!("{}  {name}\n", sha1_smol::Sha1::from(&bytes).hexdigest())
        );
        assert_eq!(
            fs::read_to_string(&written.md5).unwrap(),
            format!("{:x}  {name}\n", md5::compute(&bytes))
        );
        let sha1 = fs::read_to_string(&written.sha1).unwrap();
        assert_eq!(sha1.split_whitespace().next().unwrap().len(), 40);

        crate::validate::check_zip(&written.zip).unwrap();
    }

    #[test]
    fn packaging_twice_gives_the_same_bytes() {
        let tmp = TempDir::new("package-repro");
        let dist = fixture_dist(&tmp);
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let first = package(&dist, &a).unwrap();
        let second = package(&dist, &b).unwrap();
        assert_eq!(fs::read(first.zip).unwrap(), fs::read(second.zip).unwrap());
    }

    #[test]
    fn needs_a_dist_folder() {
        let tmp = TempDir::new("package-nodist");
        let err = package(&tmp.path().join("dist"), tmp.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask dist"), "{err}");
    }
}
