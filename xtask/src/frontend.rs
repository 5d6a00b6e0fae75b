//! The frontend, `crates/plugin/frontend` (TypeScript + React in `@grafana/create-plugin`'s
//! layout): its npm dependencies, its build (`module.js` and `module.js.map`, for
//! `cargo xtask dist`) and its checks (part of `cargo xtask ci`).
//!
//! Dependencies come from the committed `package-lock.json` with `npm ci`, run when
//! `node_modules` is missing or was installed from another lockfile (a stamp in
//! `node_modules` holds the lockfile's SHA-1). Nothing is downloaded outside npm: the browser
//! test drives Debian's `chromium` through `playwright-core`, which never fetches a browser.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::util::{have, project_root, run_cmd};

/// Debian's Chromium, which the browser test drives.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Where `npm ci` is recorded: the SHA-1 of the package.json and package-lock.json it installed.
const STAMP: &str = "node_modules/.ringstream-lock.sha1";

/// The npm scripts `cargo xtask ci` runs, in the order that fails fastest: the generated
/// schema module is fresh, types, lint, jest, the build, then the Chromium test of the build.
const CI_SCRIPTS: &[&str] = &[
    "schema:check",
    "typecheck",
    "lint",
    "test:ci",
    "build",
    "test:browser",
];

/// The frontend's folder.
pub(crate) fn dir() -> PathBuf {
    project_root().join("crates/plugin/frontend")
}

/// What `npm run build` writes: `module.js`, with `module.js.map` beside it.
pub(crate) fn built_module_js() -> PathBuf {
    dir().join("dist").join("module.js")
}

/// The checks of `cargo xtask ci`: dependencies, then [`CI_SCRIPTS`], each timed.
pub(crate) fn run() -> Result<()> {
    crate::setup::ensure_debian_packages(&[CHROMIUM], &["chromium"])?;
    let dir = dir();
    let started = Instant::now();
    ensure_node_modules(&dir)?;
    for script in CI_SCRIPTS {
        npm_run(&dir, script)?;
    }
    eprintln!(
        "frontend: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `npm run build` (after `npm ci` when needed); returns the built `module.js`.
pub(crate) fn build() -> Result<PathBuf> {
    let dir = dir();
    ensure_node_modules(&dir)?;
    npm_run(&dir, "build")?;
    let module = built_module_js();
    for file in [module.clone(), source_map_of(&module)] {
        if !file.is_file() {
            bail!(
                "`npm run build` in {} did not write {}",
                dir.display(),
                file.display()
            );
        }
    }
    Ok(module)
}

/// `module.js.map` beside `module.js`.
pub(crate) fn source_map_of(module_js: &Path) -> PathBuf {
    let mut name = module_js.as_os_str().to_owned();
    name.push(".map");
    PathBuf::from(name)
}

fn need_node() -> Result<()> {
    if !have("node") || !have("npm") {
        bail!(
            "node (20 or later) and npm are needed to build and test the frontend \
             (Debian: apt-get install nodejs npm)"
        );
    }
    Ok(())
}

/// Runs `npm ci` in `dir` when its `node_modules` is missing or stale.
fn ensure_node_modules(dir: &Path) -> Result<()> {
    need_node()?;
    let want = lock_digest(dir)?;
    let stamp = dir.join(STAMP);
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    let started = Instant::now();
    run_cmd(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
    )?;
    fs::write(&stamp, &want).with_context(|| format!("writing {}", stamp.display()))?;
    eprintln!(
        "frontend: npm ci took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The SHA-1 of `package.json` and `package-lock.json`: what `npm ci` installs from.
fn lock_digest(dir: &Path) -> Result<String> {
    let mut sha = sha1_smol::Sha1::new();
    for name in ["package.json", "package-lock.json"] {
        let path = dir.join(name);
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "reading {} (the frontend's dependencies are committed)",
                path.display()
            )
        })?;
        sha.update(name.as_bytes());
        sha.update(&(bytes.len() as u64).to_le_bytes());
        sha.update(&bytes);
    }
    Ok(sha.digest().to_string())
}

fn npm_run(dir: &Path, script: &str) -> Result<()> {
    let started = Instant::now();
    run_cmd(
        Command::new("npm")
            .args(["run", "--silent", script])
            .current_dir(dir),
    )?;
    eprintln!(
        "frontend: npm run {script} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn the_lock_digest_follows_both_files() {
        let tmp = TempDir::new("frontend-lock");
        fs::write(tmp.path().join("package.json"), "{}").unwrap();
        fs::write(tmp.path().join("package-lock.json"), "{\"a\":1}").unwrap();
        let first = lock_digest(tmp.path()).unwrap();
        assert_eq!(first.len(), 40);
        assert_eq!(lock_digest(tmp.path()).unwrap(), first);
        fs::write(tmp.path().join("package-lock.json"), "{\"a\":2}").unwrap();
        assert_ne!(lock_digest(tmp.path()).unwrap(), first);
        fs::remove_file(tmp.path().join("package.json")).unwrap();
        assert!(lock_digest(tmp.path())
            .unwrap_err()
            .to_string()
            .contains("package.json"));
    }

    #[test]
    fn the_repository_frontend_has_its_lockfile_and_scripts() {
        let package: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir().join("package.json")).unwrap()).unwrap();
        for script in CI_SCRIPTS {
            assert!(
                package["scripts"][script].is_string(),
                "package.json has no script {script}"
            );
        }
        assert!(dir().join("package-lock.json").is_file());
        assert_eq!(
            source_map_of(&built_module_js()),
            dir().join("dist/module.js.map")
        );
    }
}
