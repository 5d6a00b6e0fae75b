//! `cargo xtask dist [--target TRIPLE]`: the frontend's build (`npm ci` when needed, then
//! `npm run build` in crates/plugin/frontend), a release build of the backend, and the plugin
//! folder Grafana loads, in `dist/`: `plugin.json` (version and date filled in), the executable
//! `gpx_ringstream_<goos>_<goarch>` with its execute bit, `module.js` and `module.js.map`,
//! `img/`, README.md, CHANGELOG.md and LICENSE.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::platform::Platform;
use crate::util::{cargo, project_root, run_cmd, target_dir};

/// The cargo binary that is the plugin's backend (and plugin.json's `executable`).
pub(crate) const BINARY: &str = "gpx_ringstream";
/// The cargo package that holds [`BINARY`].
const BINARY_PACKAGE: &str = "ringstream-plugin";

/// Where `dist` writes the plugin folder.
pub(crate) fn dist_dir() -> PathBuf {
    project_root().join("dist")
}

/// The plugin id (the folder name Grafana expects and the zip's single folder), read from
/// the workspace's plugin.json, the one place it is written.
pub(crate) fn plugin_id() -> Result<String> {
    let path = project_root().join("plugin.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    json["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{} has no string `id`", path.display()))
}

/// Everything the plugin folder is made of.
#[derive(Debug)]
pub(crate) struct Sources {
    /// plugin.json with `%VERSION%` and `%TODAY%` placeholders.
    pub(crate) plugin_json: PathBuf,
    /// The folder of logos and screenshots, copied as `img/`.
    pub(crate) img_dir: PathBuf,
    /// The built frontend, copied as `module.js`; its source map `module.js.map` beside it
    /// is copied too.
    pub(crate) module_js: PathBuf,
    pub(crate) readme: PathBuf,
    pub(crate) changelog: PathBuf,
    pub(crate) license: PathBuf,
    /// The built backend executable.
    pub(crate) binary: PathBuf,
}

impl Sources {
    /// The files of this repository, with `binary` as the backend.
    pub(crate) fn of_repo(binary: PathBuf) -> Self {
        let root = project_root();
        Self {
            plugin_json: root.join("plugin.json"),
            img_dir: root.join("img"),
            module_js: built_module_js(),
            readme: root.join("README.md"),
            changelog: root.join("CHANGELOG.md"),
            license: root.join("LICENSE"),
            binary,
        }
    }
}

/// The frontend `npm run build` wrote (crates/plugin/frontend/dist/module.js).
#[cfg(not(test))]
fn built_module_js() -> PathBuf {
    crate::frontend::built_module_js()
}

/// In xtask's own tests: a small built module (as webpack emits one) and its source map, so
/// that the tests need no node (`cargo test` runs before the frontend is built).
#[cfg(test)]
fn built_module_js() -> PathBuf {
    project_root().join("xtask/src/validate/testdata/module.js")
}

/// What goes into `plugin.json`'s placeholders.
#[derive(Debug)]
pub(crate) struct Stamp {
    /// `%VERSION%`: the workspace version.
    pub(crate) version: String,
    /// `%TODAY%`: `YYYY-MM-DD`.
    pub(crate) date: String,
}

impl Stamp {
    /// The workspace version (xtask inherits it) and today's UTC date, or the date of
    /// `SOURCE_DATE_EPOCH` when it is set (reproducible builds).
    pub(crate) fn now() -> Self {
        let secs = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            });
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            date: date_of(secs),
        }
    }
}

pub(crate) fn run(target: Option<String>) -> Result<()> {
    let platform = match &target {
        Some(triple) => Platform::from_triple(triple)?,
        None => Platform::host()?,
    };
    // The frontend first: it fails faster than the release build.
    crate::frontend::build()?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", BINARY_PACKAGE, "--bin", BINARY]);
    if let Some(triple) = &target {
        build.args(["--target", triple]);
    }
    run_cmd(&mut build)?;

    let mut binary = target_dir();
    if let Some(triple) = &target {
        binary.push(triple);
    }
    binary.push("release");
    binary.push(if platform.goos == "windows" {
        format!("{BINARY}.exe")
    } else {
        BINARY.to_string()
    });

    let out = dist_dir();
    let sources = Sources::of_repo(binary);
    let summary = assemble(&sources, &platform, &Stamp::now(), &out)?;
    crate::validate::check_folder(&out)?;

    println!(
        "\
dist is ready: {out}
  {exe} for {platform}, plugin.json version {version}

Load it into Grafana:
  * docker:   docker compose up        (http://localhost:3000, see docs/INSTALL.md)
  * local:    cargo xtask install --plugins-dir /var/lib/grafana/plugins
              then in grafana.ini, [plugins] allow_loading_unsigned_plugins = {id}
              (or GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}) and restart Grafana
  * a zip:    cargo xtask package && cargo xtask validate",
        out = out.display(),
        exe = summary.executable,
        version = summary.version,
        id = summary.id,
    );
    Ok(())
}

/// What [`assemble`] wrote.
#[derive(Debug)]
pub(crate) struct Summary {
    /// plugin.json's `id`.
    pub(crate) id: String,
    /// The executable's file name in the folder.
    pub(crate) executable: String,
    pub(crate) version: String,
}

/// Writes the plugin folder `out` (replacing it) from `sources` for `platform`.
pub(crate) fn assemble(
    sources: &Sources,
    platform: &Platform,
    stamp: &Stamp,
    out: &Path,
) -> Result<Summary> {
    let template = fs::read_to_string(&sources.plugin_json)
        .with_context(|| format!("reading {}", sources.plugin_json.display()))?;
    let plugin_json = render_plugin_json(&template, stamp)
        .with_context(|| format!("filling in {}", sources.plugin_json.display()))?;
    let manifest: Value = serde_json::from_str(&plugin_json)?;
    let Some(id) = manifest.get("id").and_then(Value::as_str) else {
        bail!(
            "{} has no `id`: Grafana knows a plugin by its id, \
             `<org>-<name>-datasource`",
            sources.plugin_json.display()
        );
    };
    let Some(executable) = manifest.get("executable").and_then(Value::as_str) else {
        bail!(
            "{} has no `executable`: a backend plugin names its executable there (\"{BINARY}\")",
            sources.plugin_json.display()
        );
    };
    for (what, path) in [
        ("README.md", &sources.readme),
        ("CHANGELOG.md", &sources.changelog),
        ("LICENSE", &sources.license),
    ] {
        if !path.is_file() {
            bail!(
                "{what} is missing ({}): Grafana's catalog shows README.md and CHANGELOG.md, \
                 and a package needs its LICENSE; add it at the workspace root",
                path.display()
            );
        }
    }
    let source_map = crate::frontend::source_map_of(&sources.module_js);
    for file in [&sources.module_js, &source_map] {
        if !file.is_file() {
            bail!(
                "the frontend {} is missing: module.js (the query and config editors) and \
                 module.js.map are built by `npm run build` in crates/plugin/frontend, which \
                 `cargo xtask dist` runs",
                file.display()
            );
        }
    }
    if !sources.binary.is_file() {
        bail!(
            "the backend executable {} does not exist; build it with \
             `cargo build --release -p {BINARY_PACKAGE} --bin {BINARY}`",
            sources.binary.display()
        );
    }

    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing the old {}", out.display()))?;
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    fs::write(out.join("plugin.json"), &plugin_json)?;
    copy_dir(&sources.img_dir, &out.join("img"))?;
    copy_file(&sources.readme, &out.join("README.md"))?;
    copy_file(&sources.changelog, &out.join("CHANGELOG.md"))?;
    copy_file(&sources.license, &out.join("LICENSE"))?;
    copy_file(&sources.module_js, &out.join("module.js"))?;
    copy_file(&source_map, &out.join("module.js.map"))?;

    let exe_name = platform.executable_name(executable);
    let exe_path = out.join(&exe_name);
    copy_file(&sources.binary, &exe_path)?;
    set_executable(&exe_path)?;

    Ok(Summary {
        id: id.to_string(),
        executable: exe_name,
        version: stamp.version.clone(),
    })
}

/// Fills `%VERSION%` and `%TODAY%` in `template`, keeping its layout and field order, and
/// checks that the result is still JSON.
pub(crate) fn render_plugin_json(template: &str, stamp: &Stamp) -> Result<String> {
    serde_json::from_str::<Value>(template).context("plugin.json is not JSON")?;
    let text = template
        .replace("%VERSION%", &json_text(&stamp.version))
        .replace("%TODAY%", &json_text(&stamp.date));
    serde_json::from_str::<Value>(&text).context("plugin.json is not JSON once filled in")?;
    Ok(text)
}

/// `text` escaped for use inside a JSON string.
fn json_text(text: &str) -> String {
    let quoted = Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub(crate) fn date_of(unix_secs: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let days = (unix_secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(drop)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// Copies the files of `from` into `to`, recursively (permissions kept).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut entries: Vec<_> = fs::read_dir(from)
        .with_context(|| format!("reading {}", from.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &dest)?;
        } else {
            copy_file(&path, &dest)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting the execute bit of {}", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    // No execute bit here; `package` sets 0o755 on executables in the zip.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fixture_sources, linux_amd64, TempDir};

    fn stamp() -> Stamp {
        Stamp {
            version: "0.1.0".into(),
            date: "2025-03-04".into(),
        }
    }

    #[test]
    fn dates_from_unix_time() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(1_709_251_199), "2024-02-29");
        assert_eq!(date_of(1_735_689_600), "2025-01-01");
        assert_eq!(date_of(4_102_444_799), "2099-12-31");
    }

    #[test]
    fn stamp_uses_the_workspace_version_and_a_date() {
        let now = Stamp::now();
        assert_eq!(now.version, env!("CARGO_PKG_VERSION"));
        let bytes = now.date.as_bytes();
        assert_eq!(bytes.len(), 10);
        assert_eq!((bytes[4], bytes[7]), (b'-', b'-'));
    }

    #[test]
    fn reads_the_plugin_id_from_plugin_json() {
        assert_eq!(plugin_id().unwrap(), "seed-ringstream-datasource");
    }

    #[test]
    fn fills_the_repo_plugin_json() {
        let template = fs::read_to_string(project_root().join("plugin.json")).unwrap();
        let json: Value =
            serde_json::from_str(&render_plugin_json(&template, &stamp()).unwrap()).unwrap();
        assert_eq!(json["id"], "seed-ringstream-datasource");
        assert_eq!(json["executable"], BINARY);
        assert_eq!(json["info"]["version"], "0.1.0");
        assert_eq!(json["info"]["updated"], "2025-03-04");
        assert_eq!(json["info"]["logos"]["small"], "img/logo.svg");
        assert!(json["dependencies"]["grafanaDependency"].is_string());
        assert!(!json.to_string().contains('%'));
    }

    #[test]
    fn keeps_the_template_layout() {
        let template = "{\n  \"zeta\": 1,\n  \"info\": { \"version\": \"%VERSION%\", \"updated\": \"%TODAY%\" }\n}\n";
        assert_eq!(
            render_plugin_json(template, &stamp()).unwrap(),
            "{\n  \"zeta\": 1,\n  \"info\": { \"version\": \"0.1.0\", \"updated\": \"2025-03-04\" }\n}\n"
        );
        assert!(render_plugin_json("{ nope", &stamp()).is_err());
    }

    #[test]
    fn lays_out_the_plugin_folder() {
        let tmp = TempDir::new("dist-layout");
        let sources = fixture_sources(&tmp);
        let out = tmp.path().join("dist");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("stale.txt"), "from an older dist").unwrap();

        let summary = assemble(&sources, &linux_amd64(), &stamp(), &out).unwrap();
        assert_eq!(summary.id, "seed-ringstream-datasource");
        assert_eq!(summary.executable, "gpx_ringstream_linux_amd64");

        let mut names: Vec<String> = Vec::new();
        crate::testutil::walk(&out, &mut |rel, _| names.push(rel.to_string()));
        names.sort();
        assert_eq!(
            names,
            [
                "CHANGELOG.md",
                "LICENSE",
                "README.md",
                "gpx_ringstream_linux_amd64",
                "img/config-editor.png",
                "img/logo.svg",
                "img/query-editor-mqtt.png",
                "img/query-editor-signal.png",
                "module.js",
                "module.js.map",
                "plugin.json",
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(out.join("gpx_ringstream_linux_amd64"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        let json: Value =
            serde_json::from_str(&fs::read_to_string(out.join("plugin.json")).unwrap()).unwrap();
        assert_eq!(json["info"]["version"], "0.1.0");
        crate::validate::check_folder(&out).unwrap();
    }

    #[test]
    fn copies_the_frontend_and_fails_without_it() {
        let tmp = TempDir::new("dist-module");
        let mut sources = fixture_sources(&tmp);
        let out = tmp.path().join("dist");

        let built = tmp.path().join("build");
        fs::create_dir_all(&built).unwrap();
        let real = built.join("module.js");
        fs::write(
            &real,
            "define([], function () { return { plugin: null }; });\n//# sourceMappingURL=module.js.map\n",
        )
        .unwrap();
        fs::write(
            built.join("module.js.map"),
            "{\"version\":3,\"mappings\":\"\"}",
        )
        .unwrap();
        sources.module_js = real;
        assemble(&sources, &linux_amd64(), &stamp(), &out).unwrap();
        assert!(fs::read_to_string(out.join("module.js"))
            .unwrap()
            .contains("plugin: null"));
        assert!(fs::read_to_string(out.join("module.js.map"))
            .unwrap()
            .contains("\"version\":3"));

        // A missing source map, or a missing frontend, fails before the old folder is touched.
        fs::remove_file(built.join("module.js.map")).unwrap();
        let err = assemble(&sources, &linux_amd64(), &stamp(), &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("module.js.map is missing"), "{err}");
        sources.module_js = tmp.path().join("missing").join("module.js");
        let err = assemble(&sources, &linux_amd64(), &stamp(), &out)
            .unwrap_err()
            .to_string();
        let missing = format!("{} is missing", sources.module_js.display());
        assert!(err.contains(&missing), "{err}");
        assert!(
            err.contains("`npm run build` in crates/plugin/frontend"),
            "{err}"
        );
        assert!(out.join("module.js").is_file());
    }

    #[test]
    fn names_the_executable_for_the_target() {
        let tmp = TempDir::new("dist-target");
        let sources = fixture_sources(&tmp);
        let out = tmp.path().join("dist");
        let arm = Platform::from_triple("aarch64-unknown-linux-gnu").unwrap();
        let summary = assemble(&sources, &arm, &stamp(), &out).unwrap();
        assert_eq!(summary.executable, "gpx_ringstream_linux_arm64");
        assert!(out.join("gpx_ringstream_linux_arm64").is_file());
        assert!(!out.join("gpx_ringstream_linux_amd64").exists());
    }

    #[test]
    fn says_what_is_missing() {
        let tmp = TempDir::new("dist-missing");
        let mut sources = fixture_sources(&tmp);
        sources.binary = tmp.path().join("no-such-binary");
        let err = assemble(&sources, &linux_amd64(), &stamp(), &tmp.path().join("dist"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo build --release -p ringstream-plugin"),
            "{err}"
        );

        let mut sources = fixture_sources(&tmp);
        sources.readme = tmp.path().join("NOPE.md");
        let err = assemble(&sources, &linux_amd64(), &stamp(), &tmp.path().join("dist"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("README.md is missing"), "{err}");
    }
}
