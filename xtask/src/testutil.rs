//! Test helpers: temporary folders and a plugin built from fixtures with a fake executable.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dist::{assemble, Sources, Stamp};
use crate::platform::Platform;
use crate::util::project_root;

/// A folder under the system temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("xtask-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn linux_amd64() -> Platform {
    Platform::from_triple("x86_64-unknown-linux-gnu").unwrap()
}

/// The start of an ELF executable, enough for the validator's header check.
pub(crate) const FAKE_ELF: &[u8] = b"\x7fELF\x02\x01\x01\x00fake gpx_ringstream for tests\n";

/// The repository's plugin.json, logo, frontend, CHANGELOG and LICENSE, with a fixture README
/// and a fake executable in `tmp` (the real backend is not built by tests).
pub(crate) fn fixture_sources(tmp: &TempDir) -> Sources {
    let binary = tmp.path().join("gpx_ringstream");
    fs::write(&binary, FAKE_ELF).unwrap();
    let readme = tmp.path().join("README.md");
    fs::write(&readme, "# Ringstream\n\nA streaming data source.\n").unwrap();
    let mut sources = Sources::of_repo(binary);
    sources.readme = readme;
    sources
}

/// A fresh `dist` folder for linux/amd64 under `tmp`, as `cargo xtask dist` lays it out.
pub(crate) fn fixture_dist(tmp: &TempDir) -> PathBuf {
    let out = tmp.path().join("dist");
    let stamp = Stamp {
        version: "0.1.0".into(),
        date: "2025-03-04".into(),
    };
    assemble(&fixture_sources(tmp), &linux_amd64(), &stamp, &out).unwrap();
    out
}

/// Calls `f(relative path with '/', path)` for every file under `dir`.
pub(crate) fn walk(dir: &Path, f: &mut dyn FnMut(&str, &Path)) {
    fn go(base: &Path, dir: &Path, f: &mut dyn FnMut(&str, &Path)) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                go(base, &path, f);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy();
                f(&rel.replace('\\', "/"), &path);
            }
        }
    }
    go(dir, dir, f);
}

#[test]
fn temp_dirs_are_removed() {
    let path = {
        let tmp = TempDir::new("self");
        fs::write(tmp.path().join("x"), "x").unwrap();
        tmp.path().to_path_buf()
    };
    assert!(!path.exists());
    assert!(project_root().join("plugin.json").is_file());
}
