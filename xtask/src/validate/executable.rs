//! The backend: `<executable>_<goos>_<goarch>` files beside plugin.json, with their execute
//! bit and the binary format of their platform.

use serde_json::Value;

use super::{finding, Finding, Package};
use crate::platform::Platform;

/// The platforms of the `<executable>_<goos>_<goarch>` files at the plugin folder's top.
pub(super) fn platforms(package: &Package, manifest: &Value) -> Vec<Platform> {
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

pub(super) fn check_executable(package: &Package, manifest: &Value) -> Vec<Finding> {
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

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use crate::testutil::{fixture_dist, TempDir};
    use crate::validate::archive::load_zip;
    use crate::validate::testutil::{assert_fails, broken};
    use crate::validate::validate;

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
}
