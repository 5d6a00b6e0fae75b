//! module.js: present, not empty, and free of the Angular-era code Grafana refuses.

use super::{finding, Finding, Package};

/// Code Grafana's Angular detector refuses a plugin for (Angular support is gone).
const ANGULAR_PATTERNS: &[&str] = &[
    "PanelCtrl",
    "ConfigCtrl",
    "app/plugins/sdk",
    "angular.isNumber(",
    "editor.html",
    "ctrl.annotation",
    "getLegacyAngularInjector",
    "'QueryCtrl'",
    "\"QueryCtrl\"",
];

pub(super) fn check_module_js(package: &Package) -> Vec<Finding> {
    let Some(module) = package.files.get("module.js") else {
        return vec![finding(
            "module.js is missing, so Grafana has no frontend (no query or config editor)",
            "build the folder with `cargo xtask dist`, which builds the frontend \
             (`npm run build` in crates/plugin/frontend) and copies its module.js",
        )];
    };
    let text = String::from_utf8_lossy(&module.data);
    let mut out = Vec::new();
    if text.trim().is_empty() {
        out.push(finding(
            "module.js is empty",
            "it must be an AMD module exporting `plugin`: rebuild with `cargo xtask dist`",
        ));
    }
    for pattern in ANGULAR_PATTERNS {
        if text.contains(pattern) {
            out.push(finding(
                format!("module.js contains `{pattern}`, an Angular-era pattern Grafana refuses"),
                "remove the Angular code; use a React editor from @grafana/ui",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::validate::testutil::{assert_fails, broken, text_file};

    #[test]
    fn fails_on_a_missing_empty_or_angular_module_js() {
        let report = broken(|p| {
            p.files.remove("module.js");
        });
        assert_fails(&report, "module-js", "module.js is missing");
        let report = broken(|p| {
            p.files.insert("module.js".into(), text_file("\n"));
        });
        assert_fails(&report, "module-js", "empty");
        let report = broken(|p| {
            p.files.insert(
                "module.js".into(),
                text_file("define(['app/plugins/sdk'], function (sdk) { class QueryCtrl extends sdk.QueryCtrl {} });"),
            );
        });
        assert_fails(&report, "module-js", "app/plugins/sdk");
    }
}
