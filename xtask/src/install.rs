//! `cargo xtask install --plugins-dir DIR`: copies `dist/` into a Grafana plugins folder as
//! `DIR/seed-ringstream-datasource/` (replacing an older copy), execute bits kept.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::dist::{copy_dir, dist_dir};
use crate::package::Identity;

pub(crate) fn run(plugins_dir: PathBuf) -> Result<()> {
    let dist = dist_dir();
    let id = Identity::of_folder(&dist)?.id;
    let installed = install(&dist, &plugins_dir)?;
    println!(
        "\
installed {}

Grafana loads it on its next start when unsigned loading is allowed for this id:
  grafana.ini:  [plugins]
                allow_loading_unsigned_plugins = {id}
  or env:       GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}
Then restart Grafana (e.g. `sudo systemctl restart grafana-server`); see docs/INSTALL.md.",
        installed.display()
    );
    Ok(())
}

/// Copies the plugin folder `dist` to `plugins_dir/<id>` and returns that path.
pub(crate) fn install(dist: &Path, plugins_dir: &Path) -> Result<PathBuf> {
    let identity = Identity::of_folder(dist)?;
    if identity.platforms.is_empty() {
        bail!(
            "{} has no backend executable: run `cargo xtask dist` first",
            dist.display()
        );
    }
    fs::create_dir_all(plugins_dir)
        .with_context(|| format!("creating the plugins folder {}", plugins_dir.display()))?;
    let dest = plugins_dir.join(&identity.id);
    if dest.exists() {
        fs::remove_dir_all(&dest)
            .with_context(|| format!("removing the older {}", dest.display()))?;
    }
    copy_dir(dist, &dest)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fixture_dist, walk, TempDir};

    #[test]
    fn copies_dist_into_the_plugins_folder() {
        let tmp = TempDir::new("install");
        let dist = fixture_dist(&tmp);
        let plugins = tmp.path().join("var/lib/grafana/plugins");

        // An older install with a file the new one does not have.
        let old = plugins.join("seed-ringstream-datasource");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("gpx_ringstream_linux_arm"), "old").unwrap();

        let dest = install(&dist, &plugins).unwrap();
        assert_eq!(dest, plugins.join("seed-ringstream-datasource"));
        let mut copied = Vec::new();
        walk(&dest, &mut |rel, _| copied.push(rel.to_string()));
        let mut expected = Vec::new();
        walk(&dist, &mut |rel, _| expected.push(rel.to_string()));
        copied.sort();
        expected.sort();
        assert_eq!(copied, expected);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dest.join("gpx_ringstream_linux_amd64"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
        }
        crate::validate::check_folder(&dest).unwrap();
    }

    #[test]
    fn needs_a_built_dist() {
        let tmp = TempDir::new("install-nodist");
        let err = install(&tmp.path().join("dist"), tmp.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask dist"), "{err}");
    }
}
