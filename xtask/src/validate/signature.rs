//! Signing: an unsigned package must not carry a signature manifest.

use super::{finding, Finding, Package};

pub(super) fn check_no_manifest(package: &Package) -> Vec<Finding> {
    package
        .files
        .keys()
        .filter(|name| name.rsplit('/').next() == Some("MANIFEST.txt"))
        .map(|name| {
            finding(
                format!(
                    "`{name}` is present: a signature manifest that does not match the files \
                     makes Grafana refuse the plugin, and this package is unsigned"
                ),
                "delete it; sign only the final package (`npx @grafana/sign-plugin`), after \
                 every change",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::validate::testutil::{assert_fails, broken, text_file};

    #[test]
    fn fails_on_a_manifest() {
        let report = broken(|p| {
            p.files.insert(
                "MANIFEST.txt".into(),
                text_file("-----BEGIN PGP SIGNED MESSAGE-----"),
            );
        });
        assert_fails(&report, "no-manifest", "MANIFEST.txt");
    }
}
