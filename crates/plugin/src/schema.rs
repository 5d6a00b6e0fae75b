//! The machine-readable contract: JSON Schemas (2020-12) of queries and data source
//! settings, made from the same declarations the plugin validates with ([`crate::param`],
//! [`crate::settings::Setting`], the [`SOURCES`] registry). `cargo xtask schema` writes them
//! to `crates/plugin/schema/`; CI fails when the committed files are stale. The frontend's
//! editors, defaults and limits come from them.
//!
//! Queries: one branch per source keyed by `source` (the default source's branch also
//! matches a query without it), and within a source with variants (signals) one branch per
//! variant keyed by its parameter. Every property has its `type`, `default` (when it has
//! one), `minimum`/`maximum`, `enum` or `maxLength`, and `description`. Annotations beyond
//! JSON Schema start with `x-`: `x-unit`, `x-greaterThan` (a number that must exceed
//! another), `x-order` (the declaration order, which JSON objects lack), `x-path` (the
//! channel-path layout), `x-displayName`, `x-needsConnection`, and for settings
//! `x-section`, `x-secure`, `x-repeat` and `x-schemes`.

use serde_json::{json, Map, Value as Json};

use crate::param::Param;
use crate::query::COMMON;
use crate::settings::{Setting, SettingKind};
use crate::source::{SourceKind, SOURCES};

/// The `$id` base of the exported schemas.
const ID: &str = "https://github.com/seed/ringstream/blob/main/crates/plugin/schema";

fn properties<'a>(params: impl IntoIterator<Item = &'a Param>) -> Map<String, Json> {
    params
        .into_iter()
        .map(|p| (p.name.to_owned(), p.schema()))
        .collect()
}

fn required<'a>(params: impl IntoIterator<Item = &'a Param>) -> Vec<&'static str> {
    params
        .into_iter()
        .filter(|p| {
            matches!(
                p.kind,
                crate::param::Kind::Text {
                    required: Some(_),
                    ..
                }
            )
        })
        .map(|p| p.name)
        .collect()
}

/// One source's branch.
fn source_branch(source: &'static dyn SourceKind, default: bool) -> Json {
    let mut props = properties(source.params());
    props.insert("source".into(), json!({ "const": source.name() }));
    let mut req = required(source.params());
    if !default {
        req.insert(0, "source");
    }
    let layout = source.layout();
    let mut branch = json!({
        "title": source.name(),
        "description": source.doc(),
        "properties": props,
        "x-order": order(source.params()),
        "x-displayName": source.display_name(),
        "x-needsConnection": source.needs_connection(),
        "x-path": {
            "segment": layout.segment,
            "order": layout.order,
            "tail": layout.tail.map(|t| json!({"marker": t.marker, "param": t.param})),
        },
    });
    if !req.is_empty() {
        branch["required"] = json!(req);
    }
    if let Some(vp) = source.variant_param() {
        branch["properties"][vp.name] = vp.schema();
        let variants: Vec<Json> = source
            .variants()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut props = properties(v.params);
                props.insert(vp.name.into(), json!({ "const": v.name }));
                for rule in v.rules {
                    props[rule.param]["x-greaterThan"] = json!(rule.greater_than);
                }
                let mut b = json!({
                    "title": v.name,
                    "description": v.doc,
                    "properties": props,
                    "x-order": order(v.params),
                });
                if i > 0 {
                    b["required"] = json!([vp.name]);
                }
                b
            })
            .collect();
        branch["oneOf"] = json!(variants);
    }
    branch
}

/// The JSON Schema of a query.
pub fn query() -> Json {
    let names: Vec<&str> = SOURCES.iter().map(|s| s.name()).collect();
    let mut props = properties(COMMON.iter());
    props.insert(
        "source".into(),
        json!({
            "type": "string",
            "enum": names,
            "default": names[0],
            "description": "where the stream's rows come from",
        }),
    );
    let branches: Vec<Json> = SOURCES
        .iter()
        .enumerate()
        .map(|(i, s)| source_branch(*s, i == 0))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{ID}/query.schema.json"),
        "title": "Ringstream query",
        "description": "A panel's query: every key is optional but a source's required ones; \
            keys Grafana adds itself (refId, datasource, intervalMs, maxDataPoints, ...) are \
            allowed and ignored. The empty query is the tutorial's stream: a random walk every \
            100 ms in a ring of 1000 rows.",
        "type": "object",
        "properties": props,
        "x-order": std::iter::once("source").chain(COMMON.iter().map(|p| p.name)).collect::<Vec<_>>(),
        "oneOf": branches,
    })
}

/// Parameter names in declaration order (JSON objects have none): the editor's order.
fn order(params: &[Param]) -> Vec<&'static str> {
    params.iter().map(|p| p.name).collect()
}

/// One setting as a JSON Schema property.
fn setting_schema(s: &Setting, section: &str) -> Json {
    let mut v = match s.kind {
        SettingKind::Url { schemes } => json!({
            "type": "string",
            "format": "uri",
            "maxLength": crate::settings::limits::MAX_URL_LEN,
            "x-schemes": schemes,
        }),
        SettingKind::Text { max_len } => json!({"type": "string", "maxLength": max_len}),
        SettingKind::Boolean => json!({"type": "boolean", "default": false}),
        SettingKind::Integer { min, max } => {
            json!({"type": "integer", "minimum": min, "maximum": max})
        }
    };
    v["description"] = json!(s.doc);
    v["x-section"] = json!(section);
    if s.secure {
        v["x-secure"] = json!(true);
    }
    v
}

/// The JSON Schema of a data source's settings: `jsonData` and `secureJsonData`.
pub fn settings() -> Json {
    let mut json_data = Map::new();
    let mut secure = Map::new();
    let mut pattern_json = Map::new();
    let mut pattern_secure = Map::new();
    let sections = SOURCES
        .iter()
        .map(|s| (s.name(), s.settings()))
        .chain([("common", crate::settings::COMMON)]);
    for (section, list) in sections {
        for s in list {
            let (plain, patterned) = if s.secure {
                (&mut secure, &mut pattern_secure)
            } else {
                (&mut json_data, &mut pattern_json)
            };
            match s.repeat {
                None => {
                    plain.insert(s.key.to_owned(), setting_schema(s, section));
                }
                Some(n) => {
                    // `httpHeaderName1` ..= `httpHeaderName16`.
                    let pattern = format!("^{}({})$", s.key, numbers(n));
                    let mut v = setting_schema(s, section);
                    v["x-repeat"] = json!(n);
                    patterned.insert(pattern, v);
                }
            }
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{ID}/settings.schema.json"),
        "title": "Ringstream data source settings",
        "description": "What the data source's admin sets (Connections → Data sources): \
            jsonData is stored as is, secureJsonData encrypted and never sent back to the \
            browser. Every connection is optional; a data source with none serves the \
            signals.",
        "type": "object",
        "properties": {
            "jsonData": {
                "type": "object",
                "properties": json_data,
                "patternProperties": pattern_json,
            },
            "secureJsonData": {
                "type": "object",
                "properties": secure,
                "patternProperties": pattern_secure,
            },
        },
    })
}

/// `1|2|…|n` as a regular expression alternative.
fn numbers(n: u8) -> String {
    (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join("|")
}

/// Both schemas, as the files hold them (pretty-printed, one trailing newline).
pub fn files() -> [(&'static str, String); 2] {
    let pretty = |v: &Json| {
        let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    [
        ("query.schema.json", pretty(&query())),
        ("settings.schema.json", pretty(&settings())),
    ]
}

/// The docs' generated tables, by the name of their place (`<!-- generated:NAME -->` …
/// `<!-- /generated:NAME -->` in README.md and crates/plugin/SOURCES.md): the signal
/// source's parameters and variants, the other sources' parameters, and the settings.
pub fn doc_tables() -> Vec<(&'static str, String)> {
    let other: Vec<&str> = SOURCES[1..].iter().map(|s| s.name()).collect();
    vec![
        ("params-signal", params_table(&["signal"], true)),
        ("signals", variants_table("signal")),
        // Every source after the default one, so a new source is documented when registered.
        ("params-sources", params_table(&other, true)),
        ("settings", settings_table()),
    ]
}

/// What a parameter allows, in words.
fn allowed(p: &Param) -> String {
    use crate::param::Kind;
    match p.kind {
        Kind::Integer { min, max, .. } => format!("integer, {min} ..= {max}"),
        Kind::Number { min, max, .. } => {
            format!("number, {} ..= {}", short_bound(min), short_bound(max))
        }
        Kind::Boolean { .. } => "true or false".into(),
        Kind::Choice { values, .. } => values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", "),
        Kind::Text { max_len, .. } => format!("text, at most {max_len} bytes"),
        Kind::Names { max_items, max_len } => {
            format!("at most {max_items} names of at most {max_len} bytes")
        }
    }
}

fn short_bound(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        crate::param::Short(x).to_string()
    }
}

/// Table text: `|` would end the cell, `<` could open an HTML tag.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;")
}

/// A Markdown table of the parameters of `sources` (the `source` key and the common
/// parameters first, when asked). A parameter declared alike by several sources or variants
/// is one row naming them all.
fn params_table(sources: &[&str], common: bool) -> String {
    // (key, default, allowed, meaning) → where it applies, in declaration order.
    let mut rows: Vec<([String; 4], Vec<String>)> = Vec::new();
    let mut row = |r#for: String, p: &Param| {
        let unit = p.unit.map_or(String::new(), |u| format!(" ({u})"));
        let cells = [
            format!("`{}`", p.name),
            p.default_text(),
            allowed(p),
            format!("{}{unit}", cell(p.doc)),
        ];
        match rows.iter_mut().find(|(c, _)| *c == cells) {
            Some((_, places)) => places.push(r#for),
            None => rows.push((cells, vec![r#for])),
        }
    };
    if common {
        for p in &COMMON {
            row("every source".into(), p);
        }
    }
    for name in sources {
        let Some(source) = crate::source::lookup(name) else {
            continue;
        };
        if let Some(vp) = source.variant_param() {
            row((*name).to_owned(), vp);
        }
        for p in source.params() {
            row((*name).to_owned(), p);
        }
        if source.variant_param().is_some() {
            for v in source.variants() {
                for p in v.params {
                    row(format!("{name} `{}`", v.name), p);
                }
            }
        }
    }
    let mut out = String::from(
        "| key | for | default | allowed | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    if common {
        let names = SOURCES.iter().map(|s| format!("`{}`", s.name()));
        out.push_str(&format!(
            "| `source` | every query | \"{}\" | {} | where the rows come from |\n",
            SOURCES[0].name(),
            names.collect::<Vec<_>>().join(", "),
        ));
    }
    for ([key, default, allowed, meaning], places) in rows {
        out.push_str(&format!(
            "| {key} | {} | {default} | {allowed} | {meaning} |\n",
            join_places(&places)
        ));
    }
    out
}

/// `signal `sine``, `signal `square`` → `signal `sine`, `square``: one source named once.
fn join_places(places: &[String]) -> String {
    let mut out = String::new();
    let mut last_source = "";
    for place in places {
        let (source, variant) = place.split_once(' ').unwrap_or((place, ""));
        if !out.is_empty() {
            out.push_str(", ");
        }
        if source == last_source && !variant.is_empty() {
            out.push_str(variant);
        } else {
            out.push_str(place);
        }
        last_source = source;
    }
    out
}

/// A Markdown table of a source's variants.
fn variants_table(source: &str) -> String {
    let mut out = String::from("| variant | what it draws |\n| --- | --- |\n");
    for v in crate::source::lookup(source).map_or(&[][..], |s| s.variants()) {
        out.push_str(&format!("| `{}` | {} |\n", v.name, cell(v.doc)));
    }
    out
}

/// A Markdown table of the settings.
fn settings_table() -> String {
    let mut out = String::from("| setting | stored as | meaning |\n| --- | --- | --- |\n");
    let sections = SOURCES
        .iter()
        .map(|s| (s.display_name(), s.settings()))
        .chain([("common", crate::settings::COMMON)]);
    for (section, list) in sections {
        for s in list {
            let place = if s.secure {
                "secureJsonData"
            } else {
                "jsonData"
            };
            let key = match s.repeat {
                Some(n) => format!("`{place}.{}1` … `{}{n}`", s.key, s.key),
                None => format!("`{place}.{}`", s.key),
            };
            out.push_str(&format!("| {section} | {key} | {} |\n", cell(s.doc)));
        }
    }
    out
}
