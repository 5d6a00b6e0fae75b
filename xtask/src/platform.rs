//! Grafana's names for platforms: a backend executable is `<executable>_<goos>_<goarch>`
//! (plus `.exe` on Windows), with Go's `GOOS`/`GOARCH` spellings, while cargo speaks in
//! Rust target triples.

use std::fmt;

use anyhow::{bail, Result};

/// One platform, in Go's spelling (`linux`/`amd64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Platform {
    pub(crate) goos: String,
    pub(crate) goarch: String,
}

/// Operating systems Grafana ships for, by (Rust `target_os` / triple part, Go `GOOS`).
const OSES: &[(&str, &str)] = &[
    ("linux", "linux"),
    ("macos", "darwin"),
    ("darwin", "darwin"),
    ("windows", "windows"),
    ("freebsd", "freebsd"),
];

/// Architectures, by (Rust `target_arch` / triple part, Go `GOARCH`).
const ARCHES: &[(&str, &str)] = &[
    ("x86_64", "amd64"),
    ("aarch64", "arm64"),
    ("arm", "arm"),
    ("armv7", "arm"),
    ("armv6", "arm"),
    ("armv5te", "arm"),
    ("thumbv7neon", "arm"),
    ("x86", "386"),
    ("i686", "386"),
    ("i586", "386"),
];

impl Platform {
    /// The platform this xtask runs on (the one a plain `cargo build` targets).
    pub(crate) fn host() -> Result<Self> {
        Self::from_parts(std::env::consts::OS, std::env::consts::ARCH).ok_or_else(|| {
            anyhow::anyhow!(
                "Grafana has no platform name for this host ({} {}); pass --target TRIPLE",
                std::env::consts::OS,
                std::env::consts::ARCH
            )
        })
    }

    /// Maps a Rust target triple such as `aarch64-unknown-linux-gnu` to Grafana's names.
    pub(crate) fn from_triple(triple: &str) -> Result<Self> {
        let parts: Vec<&str> = triple.split('-').collect();
        let Some(arch) = parts.first() else {
            bail!("empty target triple");
        };
        let os = parts
            .iter()
            .skip(1)
            .find(|p| OSES.iter().any(|(rust, _)| rust == *p));
        match os.and_then(|os| Self::from_parts(os, arch)) {
            Some(platform) => Ok(platform),
            None => bail!(
                "cannot map target `{triple}` to a Grafana platform: Grafana loads \
                 linux/darwin/windows/freebsd executables for amd64, arm64, arm and 386 \
                 (e.g. x86_64-unknown-linux-gnu, aarch64-apple-darwin, x86_64-pc-windows-msvc)"
            ),
        }
    }

    fn from_parts(os: &str, arch: &str) -> Option<Self> {
        let goos = OSES.iter().find(|(rust, _)| *rust == os)?.1;
        let goarch = ARCHES.iter().find(|(rust, _)| *rust == arch)?.1;
        Some(Self {
            goos: goos.to_string(),
            goarch: goarch.to_string(),
        })
    }

    /// `linux_amd64`: the suffix used in executable and package names.
    pub(crate) fn suffix(&self) -> String {
        format!("{}_{}", self.goos, self.goarch)
    }

    /// The file name Grafana looks for: `gpx_ringstream_linux_amd64`, `..._windows_amd64.exe`.
    pub(crate) fn executable_name(&self, executable: &str) -> String {
        let exe = if self.goos == "windows" { ".exe" } else { "" };
        format!("{executable}_{}{exe}", self.suffix())
    }

    /// Recognises `<executable>_<goos>_<goarch>[.exe]` and returns its platform.
    pub(crate) fn from_executable_name(executable: &str, file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix(executable)?.strip_prefix('_')?;
        let rest = rest.strip_suffix(".exe").unwrap_or(rest);
        let (goos, goarch) = rest.split_once('_')?;
        let known_os = OSES.iter().any(|(_, go)| *go == goos);
        let known_arch = ARCHES.iter().any(|(_, go)| *go == goarch);
        (known_os && known_arch).then(|| Self {
            goos: goos.to_string(),
            goarch: goarch.to_string(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.goos, self.goarch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(triple: &str) -> (String, String) {
        let p = Platform::from_triple(triple).unwrap();
        (p.goos, p.goarch)
    }

    #[test]
    fn maps_rust_triples_to_grafana_names() {
        let cases = [
            ("x86_64-unknown-linux-gnu", "linux", "amd64"),
            ("x86_64-unknown-linux-musl", "linux", "amd64"),
            ("aarch64-unknown-linux-gnu", "linux", "arm64"),
            ("aarch64-unknown-linux-musl", "linux", "arm64"),
            ("armv7-unknown-linux-gnueabihf", "linux", "arm"),
            ("arm-unknown-linux-gnueabihf", "linux", "arm"),
            ("x86_64-apple-darwin", "darwin", "amd64"),
            ("aarch64-apple-darwin", "darwin", "arm64"),
            ("x86_64-pc-windows-msvc", "windows", "amd64"),
            ("x86_64-pc-windows-gnu", "windows", "amd64"),
            ("i686-unknown-linux-gnu", "linux", "386"),
            ("x86_64-unknown-freebsd", "freebsd", "amd64"),
        ];
        for (triple, goos, goarch) in cases {
            assert_eq!(
                names(triple),
                (goos.to_string(), goarch.to_string()),
                "{triple}"
            );
        }
    }

    #[test]
    fn rejects_platforms_grafana_does_not_load() {
        for triple in ["wasm32-unknown-unknown", "riscv64gc-unknown-linux-gnu", ""] {
            let err = Platform::from_triple(triple).unwrap_err().to_string();
            assert!(err.contains("Grafana"), "{triple}: {err}");
        }
    }

    #[test]
    fn executable_names_follow_grafana() {
        let linux = Platform::from_triple("x86_64-unknown-linux-gnu").unwrap();
        assert_eq!(
            linux.executable_name("gpx_ringstream"),
            "gpx_ringstream_linux_amd64"
        );
        let windows = Platform::from_triple("x86_64-pc-windows-msvc").unwrap();
        assert_eq!(
            windows.executable_name("gpx_ringstream"),
            "gpx_ringstream_windows_amd64.exe"
        );
        for p in [linux, windows] {
            let name = p.executable_name("gpx_ringstream");
            assert_eq!(
                Platform::from_executable_name("gpx_ringstream", &name),
                Some(p)
            );
        }
        assert_eq!(
            Platform::from_executable_name("gpx_ringstream", "gpx_ringstream"),
            None
        );
        assert_eq!(
            Platform::from_executable_name("gpx_ringstream", "gpx_other_linux_amd64"),
            None
        );
    }

    #[test]
    fn host_has_a_name() {
        // Every machine this project builds on (linux/macOS/windows on x86_64 or arm64).
        let host = Platform::host().unwrap();
        assert!(!host.goos.is_empty() && !host.goarch.is_empty());
    }
}
