//! The real plugin executable for the end-to-end tests.
//!
//! Integration tests of this crate cannot name another package's binary
//! (`CARGO_BIN_EXE_*` is per package), so the first test that needs it builds
//! `gpx_ringstream` with the cargo that runs the tests, into the same target folder and
//! profile, once per test run. `RINGSTREAM_PLUGIN_EXE` overrides it (e.g. to test a
//! release build or a `dist/` executable).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of a freshly built `gpx_ringstream`.
pub(crate) fn plugin_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        if let Some(exe) = std::env::var_os("RINGSTREAM_PLUGIN_EXE") {
            return PathBuf::from(exe);
        }
        build()
    })
}

fn build() -> PathBuf {
    // This test binary is <target>/<profile-dir>/deps/harness-<hash>.
    let test_exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/<profile>/deps");
    let target_dir = profile_dir
        .parent()
        .expect("the profile folder lives in the target folder");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other, // release, or a custom profile's own folder name
        None => "dev",
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(cargo)
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "build",
            "--quiet",
            "-p",
            "ringstream-plugin",
            "--bin",
            "gpx_ringstream",
        ])
        .args(["--profile", profile])
        .output()
        .expect("running cargo build for the plugin");
    assert!(
        output.status.success(),
        "building gpx_ringstream failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exe = profile_dir.join(format!("gpx_ringstream{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "{} was not built", exe.display());
    exe
}
