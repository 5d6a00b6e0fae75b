//! plugin.json: readable, and following the rules of Grafana's schema (see `schema`) plus
//! what a built package needs (no placeholders, a SemVer version, an executable for a
//! backend).

use serde_json::{Map, Value};

use super::schema::Ty::{Obj, Str};
use super::schema::*;
use super::{finding, matches, Finding, Package};

pub(super) const PLUGIN_JSON_FIX: &str =
    "fix plugin.json at the workspace root (`cargo xtask dist` fills in its placeholders)";

pub(super) fn check_plugin_json(package: &Package) -> Vec<Finding> {
    let Some(entry) = package.files.get("plugin.json") else {
        return vec![finding(
            "plugin.json is missing from the plugin folder",
            "build the folder with `cargo xtask dist`, which writes plugin.json",
        )];
    };
    match serde_json::from_slice::<Value>(&entry.data) {
        Err(err) => vec![finding(
            format!("plugin.json is not valid JSON: {err}"),
            PLUGIN_JSON_FIX,
        )],
        Ok(value) if !value.is_object() => {
            vec![finding("plugin.json is not a JSON object", PLUGIN_JSON_FIX)]
        }
        Ok(_) => Vec::new(),
    }
}

/// Checks an object's type, its required fields, that it has no unknown fields and the
/// types of its known fields. Returns the object when it is one.
fn check_object<'a>(
    path: &str,
    value: &'a Value,
    fields: &[(&str, Ty)],
    required: &[&str],
    out: &mut Vec<Finding>,
) -> Option<&'a Map<String, Value>> {
    let Some(object) = value.as_object() else {
        out.push(finding(
            format!("`{path}` must be an object, found {}", kind(value)),
            PLUGIN_JSON_FIX,
        ));
        return None;
    };
    for name in required {
        if !object.contains_key(*name) {
            out.push(finding(
                format!("`{}` is required and missing", at(path, name)),
                format!("add `{}` to plugin.json", at(path, name)),
            ));
        }
    }
    for (name, value) in object {
        match fields.iter().find(|(n, _)| n == name) {
            None => out.push(finding(
                format!(
                    "`{}` is not a field Grafana's plugin.json schema allows",
                    at(path, name)
                ),
                format!(
                    "remove it or fix its spelling; `{}` allows: {}",
                    if path.is_empty() { "plugin.json" } else { path },
                    fields
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some((_, ty)) if !ty.matches(value) => out.push(finding(
                format!(
                    "`{}` must be a {}, found {}",
                    at(path, name),
                    ty.schema_name(),
                    kind(value)
                ),
                PLUGIN_JSON_FIX,
            )),
            Some(_) => {}
        }
    }
    Some(object)
}

fn at(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a string field against a pattern or a list of allowed values.
fn check_string(
    path: &str,
    value: Option<&Value>,
    rule: Rule<'_>,
    fix: &str,
    out: &mut Vec<Finding>,
) {
    let Some(text) = value.and_then(Value::as_str) else {
        return; // missing or mistyped: reported by check_object
    };
    let ok = match rule {
        Rule::Pattern(pattern) => matches(pattern, text),
        Rule::OneOf(allowed) => allowed.contains(&text),
    };
    if !ok {
        let expected = match rule {
            Rule::Pattern(pattern) => format!("must match {pattern}"),
            Rule::OneOf(allowed) => format!("must be one of {}", allowed.join(", ")),
        };
        out.push(finding(
            format!("`{path}` is \"{text}\"; it {expected}"),
            fix,
        ));
    }
}

#[derive(Clone, Copy)]
enum Rule<'a> {
    Pattern(&'a str),
    OneOf(&'a [&'a str]),
}

/// Checks each element of an array field: its type, and for objects their fields.
fn check_items(
    path: &str,
    value: Option<&Value>,
    item: Ty,
    fields: &[(&str, Ty)],
    required: &[&str],
    out: &mut Vec<Finding>,
) {
    let Some(items) = value.and_then(Value::as_array) else {
        return;
    };
    for (i, value) in items.iter().enumerate() {
        let path = format!("{path}[{i}]");
        if item == Obj {
            check_object(&path, value, fields, required, out);
        } else if !item.matches(value) {
            out.push(finding(
                format!(
                    "`{path}` must be a {}, found {}",
                    item.schema_name(),
                    kind(value)
                ),
                PLUGIN_JSON_FIX,
            ));
        }
    }
}

/// plugin.json against the rules of Grafana's schema, plus what a built package needs.
pub(crate) fn check_schema(json: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(top) = check_object("", json, TOP_LEVEL, TOP_REQUIRED, &mut out) else {
        return out;
    };
    check_string(
        "id",
        top.get("id"),
        Rule::Pattern(ID_PATTERN),
        "use `<org>-<name>-<type>` in lower case letters and digits, e.g. `seed-ringstream-datasource`",
        &mut out,
    );
    check_string(
        "type",
        top.get("type"),
        Rule::OneOf(TYPES),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    check_string(
        "state",
        top.get("state"),
        Rule::OneOf(STATES),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    check_string(
        "pascalName",
        top.get("pascalName"),
        Rule::Pattern(PASCAL_NAME_PATTERN),
        PLUGIN_JSON_FIX,
        &mut out,
    );
    if let (Some(id), Some(ty)) = (top["id"].as_str(), top["type"].as_str()) {
        if matches(ID_PATTERN, id) && !id.ends_with(&format!("-{ty}")) {
            out.push(finding(
                format!("the id `{id}` does not end in its type `-{ty}`"),
                "make the id's last part the plugin type, e.g. `-datasource`",
            ));
        }
    }

    if let Some(info) = top
        .get("info")
        .and_then(|v| check_object("info", v, INFO, INFO_REQUIRED, &mut out))
    {
        if let Some(author) = info.get("author") {
            check_object("info.author", author, AUTHOR, &[], &mut out);
        }
        if let Some(build) = info.get("build") {
            check_object("info.build", build, BUILD, &[], &mut out);
        }
        if let Some(logos) = info.get("logos") {
            check_object("info.logos", logos, LOGOS, &["small", "large"], &mut out);
        }
        check_items("info.links", info.get("links"), Obj, LINK, &[], &mut out);
        for (i, link) in info
            .get("links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_string(
                &format!("info.links[{i}].target"),
                link.get("target"),
                Rule::OneOf(LINK_TARGETS),
                PLUGIN_JSON_FIX,
                &mut out,
            );
        }
        check_items(
            "info.screenshots",
            info.get("screenshots"),
            Obj,
            SCREENSHOT,
            &[],
            &mut out,
        );
        check_items(
            "info.keywords",
            info.get("keywords"),
            Str,
            &[],
            &[],
            &mut out,
        );
        if info
            .get("keywords")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            out.push(finding(
                "`info.keywords` is empty; the schema needs at least one",
                "add keywords such as \"streaming\" to info.keywords",
            ));
        }
        let version = info.get("version");
        check_string(
            "info.version",
            version,
            Rule::Pattern(VERSION_PATTERN),
            PLUGIN_JSON_FIX,
            &mut out,
        );
        check_string(
            "info.updated",
            info.get("updated"),
            Rule::Pattern(UPDATED_PATTERN),
            "use the date as YYYY-MM-DD",
            &mut out,
        );
        // A package carries real values, not the source file's placeholders.
        for (field, placeholder) in [("version", "%VERSION%"), ("updated", "%TODAY%")] {
            if info.get(field).and_then(Value::as_str) == Some(placeholder) {
                out.push(finding(
                    format!("`info.{field}` is still the placeholder {placeholder}"),
                    "build the folder with `cargo xtask dist`, which fills it in",
                ));
            }
        }
        if let Some(v) = version.and_then(Value::as_str) {
            if v != "%VERSION%" && !matches(SEMVER_PATTERN, v) {
                out.push(finding(
                    format!("`info.version` \"{v}\" is not a SemVer version such as 1.2.3"),
                    "set [workspace.package] version in Cargo.toml and run `cargo xtask dist`",
                ));
            }
        }
    }

    if let Some(deps) = top.get("dependencies").and_then(|v| {
        check_object(
            "dependencies",
            v,
            DEPENDENCIES,
            DEPENDENCIES_REQUIRED,
            &mut out,
        )
    }) {
        check_string(
            "dependencies.grafanaDependency",
            deps.get("grafanaDependency"),
            Rule::Pattern(GRAFANA_DEPENDENCY_PATTERN),
            "use a semver range such as \">=10.4.0\"",
            &mut out,
        );
        check_string(
            "dependencies.grafanaVersion",
            deps.get("grafanaVersion"),
            Rule::Pattern(GRAFANA_VERSION_PATTERN),
            "drop the deprecated grafanaVersion; grafanaDependency replaces it",
            &mut out,
        );
        check_items(
            "dependencies.plugins",
            deps.get("plugins"),
            Obj,
            &[("id", Str), ("type", Str), ("name", Str)],
            &["id", "name", "type"],
            &mut out,
        );
        if let Some(plugins) = deps.get("plugins").and_then(Value::as_array) {
            for (i, plugin) in plugins.iter().enumerate() {
                check_string(
                    &format!("dependencies.plugins[{i}].id"),
                    plugin.get("id"),
                    Rule::Pattern(ID_PATTERN),
                    PLUGIN_JSON_FIX,
                    &mut out,
                );
                check_string(
                    &format!("dependencies.plugins[{i}].type"),
                    plugin.get("type"),
                    Rule::OneOf(DEPENDENCY_TYPES),
                    PLUGIN_JSON_FIX,
                    &mut out,
                );
            }
        }
    }

    if top.get("backend") == Some(&Value::Bool(true)) && !top.contains_key("executable") {
        out.push(finding(
            "`backend` is true but `executable` is missing, so Grafana cannot start the backend",
            "add \"executable\": \"gpx_ringstream\" to plugin.json",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::util::project_root;
    use crate::validate::testutil::{broken, set_json, text_file};
    use crate::validate::Outcome;

    #[test]
    fn the_repos_plugin_json_follows_the_schema_rules() {
        let template = fs::read_to_string(project_root().join("plugin.json")).unwrap();
        let json: Value = serde_json::from_str(&template).unwrap();
        let findings = check_schema(&json);
        // The source file only has its placeholders to complain about.
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings.iter().all(|f| f.problem.contains("placeholder")));
    }

    #[test]
    fn fails_on_a_missing_or_broken_plugin_json() {
        let report = broken(|p| {
            p.files.remove("plugin.json");
        });
        assert!(report.failed().contains(&"plugin-json"), "\n{report}");
        assert!(report
            .failures()
            .any(|(_, f)| f.problem.contains("missing")));
        assert!(report
            .0
            .iter()
            .any(|(name, o)| *name == "schema" && matches!(o, Outcome::Skipped(_))));

        let report = broken(|p| {
            p.files
                .insert("plugin.json".into(), text_file("{ not json"));
        });
        assert!(report.failed().contains(&"plugin-json"), "\n{report}");
    }

    /// Sets (or with `None` removes) the value at a JSON pointer such as `/info/version`.
    fn edit(json: &mut Value, pointer: &str, value: Option<Value>) {
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        let parent = json.pointer_mut(parent).unwrap();
        match (value, parent) {
            (Some(v), Value::Array(items)) => items[last.parse::<usize>().unwrap()] = v,
            (Some(v), Value::Object(map)) => drop(map.insert(last.to_string(), v)),
            (None, Value::Object(map)) => drop(map.remove(last)),
            _ => panic!("cannot edit {pointer}"),
        }
    }

    #[test]
    fn fails_on_each_schema_rule() {
        use serde_json::json;
        let cases = [
            ("`name` is required", "/name", None),
            ("`info.version` is required", "/info/version", None),
            (
                "`dependencies.grafanaDependency` is required",
                "/dependencies/grafanaDependency",
                None,
            ),
            ("`info.logos.large` is required", "/info/logos/large", None),
            ("`executable` is missing", "/executable", None),
            ("`id` is \"Ringstream\"", "/id", Some(json!("Ringstream"))),
            ("`type` is \"source\"", "/type", Some(json!("source"))),
            ("does not end in its type", "/type", Some(json!("panel"))),
            ("`state` is \"done\"", "/state", Some(json!("done"))),
            (
                "`streaming` must be a boolean",
                "/streaming",
                Some(json!("yes")),
            ),
            ("`info` must be an object", "/info", Some(json!([]))),
            (
                "`info.keywords[0]` must be a string",
                "/info/keywords/0",
                Some(json!(3)),
            ),
            (
                "`info.keywords` is empty",
                "/info/keywords",
                Some(json!([])),
            ),
            (
                "`info.links[0]` must be an object",
                "/info/links/0",
                Some(json!("x")),
            ),
            (
                "`info.links[0].target` is \"new\"",
                "/info/links/0/target",
                Some(json!("new")),
            ),
            (
                "`info.author.name` must be a string",
                "/info/author/name",
                Some(json!(1)),
            ),
            (
                "`info.updated` is \"4 March\"",
                "/info/updated",
                Some(json!("4 March")),
            ),
            ("not a SemVer version", "/info/version", Some(json!("1.0"))),
            (
                "still the placeholder %VERSION%",
                "/info/version",
                Some(json!("%VERSION%")),
            ),
            (
                "still the placeholder %TODAY%",
                "/info/updated",
                Some(json!("%TODAY%")),
            ),
            (
                "`dependencies.grafanaDependency` is \"newest\"",
                "/dependencies/grafanaDependency",
                Some(json!("newest")),
            ),
            ("`streming` is not a field", "/streming", Some(json!(true))),
            (
                "`info.logo` is not a field",
                "/info/logo",
                Some(json!("img/logo.svg")),
            ),
            (
                "`dependencies.plugins[0].name` is required",
                "/dependencies/plugins",
                Some(json!([{ "id": "grafana-x-datasource", "type": "datasource" }])),
            ),
        ];
        for (needle, pointer, value) in cases {
            let report = broken(|p| set_json(p, |j| edit(j, pointer, value)));
            assert!(report.failed().contains(&"schema"), "{needle}:\n{report}");
            assert!(
                report
                    .failures()
                    .any(|(name, f)| name == "schema" && f.problem.contains(needle)),
                "no `{needle}` in\n{report}"
            );
        }
    }
}
