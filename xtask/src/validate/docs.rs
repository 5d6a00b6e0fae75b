//! The documents Grafana's catalog shows and a distributed plugin carries: README.md,
//! CHANGELOG.md and a LICENSE.

use super::{finding, Finding, Package};

pub(super) fn check_docs(package: &Package) -> Vec<Finding> {
    let mut out = Vec::new();
    for (names, why) in [
        (&["README.md"][..], "the plugin page in Grafana shows it"),
        (
            &["CHANGELOG.md"][..],
            "the catalog shows the changes of each version",
        ),
        (
            &["LICENSE", "LICENSE.md", "LICENSE.txt"][..],
            "a distributed plugin states its license",
        ),
    ] {
        match names.iter().find_map(|n| package.files.get(*n)) {
            None => out.push(finding(
                format!("{} is missing; {why}", names[0]),
                format!(
                    "add {} at the workspace root and rebuild with `cargo xtask dist`",
                    names[0]
                ),
            )),
            Some(entry) if String::from_utf8_lossy(&entry.data).trim().is_empty() => {
                out.push(finding(
                    format!("{} is empty; {why}", names[0]),
                    format!("write {} and rebuild with `cargo xtask dist`", names[0]),
                ))
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::validate::testutil::{assert_fails, broken, text_file};

    #[test]
    fn fails_on_missing_docs() {
        for name in ["README.md", "CHANGELOG.md", "LICENSE"] {
            let report = broken(|p| {
                p.files.remove(name);
            });
            assert_fails(&report, "docs", &format!("{name} is missing"));
        }
        let report = broken(|p| {
            p.files.insert("README.md".into(), text_file("  \n"));
        });
        assert_fails(&report, "docs", "README.md is empty");
    }
}
