//! Images: the logos and screenshots plugin.json names exist, and every SVG is a plain image
//! with no scripts or external references.

use serde_json::Value;

use super::{finding, matches, Finding, Package};

pub(super) fn check_logos(package: &Package, manifest: &Value) -> Vec<Finding> {
    let info = &manifest["info"];
    let mut paths: Vec<(String, &str)> = ["small", "large"]
        .iter()
        .filter_map(|size| {
            info["logos"][*size]
                .as_str()
                .map(|p| (format!("info.logos.{size}"), p))
        })
        .collect();
    if let Some(shots) = info["screenshots"].as_array() {
        paths.extend(shots.iter().enumerate().filter_map(|(i, s)| {
            s["path"]
                .as_str()
                .map(|p| (format!("info.screenshots[{i}].path"), p))
        }));
    }
    paths
        .into_iter()
        .filter(|(_, path)| !package.files.contains_key(path.trim_start_matches("./")))
        .map(|(field, path)| {
            finding(
                format!("`{field}` names `{path}`, which is not in the plugin folder"),
                "add the image (dist copies the workspace's img/ folder) or fix the path, \
                 relative to plugin.json, e.g. img/logo.svg",
            )
        })
        .collect()
}

pub(super) fn check_svg(package: &Package) -> Vec<Finding> {
    let unsafe_content = [
        (r"(?i)<script", "a <script> element"),
        (r"(?i)<foreignobject", "a <foreignObject> element"),
        (r"(?i)\son[a-z]+\s*=", "an event handler attribute (on...=)"),
        (r"(?i)javascript:", "a javascript: URL"),
        (r"(?i)<!(entity|doctype)", "a DOCTYPE or ENTITY declaration"),
        (
            r#"(?i)href\s*=\s*["']\s*(https?:|//|data:|file:)"#,
            "a link to an external resource",
        ),
        (
            r"(?i)url\(\s*['\x22]?\s*(https?:|//|data:)",
            "an external url()",
        ),
        (r"(?i)@import", "a CSS @import"),
    ];
    let mut out = Vec::new();
    for (name, entry) in &package.files {
        if !name.to_ascii_lowercase().ends_with(".svg") {
            continue;
        }
        let text = String::from_utf8_lossy(&entry.data);
        if !text.contains("<svg") {
            out.push(finding(
                format!("`{name}` is not an SVG image (no <svg> element)"),
                "replace it with an SVG file",
            ));
        }
        for (pattern, what) in unsafe_content {
            if matches(pattern, &text) {
                out.push(finding(
                    format!("`{name}` contains {what}, which is unsafe in an SVG"),
                    "remove it: logos must be plain shapes, with no scripts and no external \
                     references",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::util::project_root;
    use crate::validate::testutil::{assert_fails, broken, set_json, text_file};

    #[test]
    fn fails_on_missing_logos() {
        let report = broken(|p| {
            p.files.remove("img/logo.svg");
        });
        assert_fails(
            &report,
            "logos",
            "`img/logo.svg`, which is not in the plugin folder",
        );
        let report =
            broken(|p| set_json(p, |j| j["info"]["logos"]["small"] = "img/small.png".into()));
        assert_fails(&report, "logos", "img/small.png");
    }

    #[test]
    fn fails_on_unsafe_svg() {
        let logo = |extra: &str| {
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 8 8\">{extra}<circle r=\"4\"/></svg>")
        };
        for (extra, needle) in [
            ("<script>alert(1)</script>", "<script>"),
            ("<rect onload=\"alert(1)\"/>", "event handler"),
            ("<a href=\"javascript:alert(1)\"><rect/></a>", "javascript:"),
            (
                "<image href=\"https://example.com/x.png\"/>",
                "external resource",
            ),
            (
                "<image xlink:href='//example.com/x.png'/>",
                "external resource",
            ),
            ("<foreignObject><div/></foreignObject>", "foreignObject"),
            (
                "<style>@import 'https://example.com/a.css';</style>",
                "@import",
            ),
            ("<rect style=\"fill:url(https://example.com/p)\"/>", "url()"),
        ] {
            let report = broken(|p| {
                p.files
                    .insert("img/logo.svg".into(), text_file(&logo(extra)));
            });
            assert_fails(&report, "svg", needle);
        }
        let report = broken(|p| {
            p.files.insert("img/logo.svg".into(), text_file("GIF89a"));
        });
        assert_fails(&report, "svg", "not an SVG image");
        // The repository's own logo is clean (the clean package includes it).
        let logo = fs::read_to_string(project_root().join("img/logo.svg")).unwrap();
        assert!(logo.contains("<svg"));
    }
}
