//! The exported contract covers every declaration: a parameter or setting that the schema or
//! the docs' tables leave out would be one the editor and the readers never learn about.

use ringstream_plugin::query::{StreamSpec, COMMON};
use ringstream_plugin::schema;
use ringstream_plugin::source::SOURCES;
use serde_json::Value;

/// The query schema's branch of each source, by name.
fn branch<'a>(query: &'a Value, source: &str) -> &'a Value {
    query["oneOf"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["title"] == source))
        .unwrap_or_else(|| panic!("the query schema has no branch for {source}"))
}

#[test]
fn query_schema_declares_every_parameter_of_every_source_and_variant() {
    let query = schema::query();
    for p in &COMMON {
        assert!(query["properties"].get(p.name).is_some(), "{}", p.name);
    }
    for source in SOURCES {
        let b = branch(&query, source.name());
        for p in source.params() {
            assert_eq!(
                b["properties"][p.name],
                p.schema(),
                "{}.{}",
                source.name(),
                p.name
            );
        }
        for (i, v) in source.variants().iter().enumerate() {
            let Some(branches) = b["oneOf"].as_array() else {
                assert!(
                    source.variant_param().is_none(),
                    "{} has no variant branches",
                    source.name()
                );
                continue;
            };
            let vb = &branches[i];
            assert_eq!(vb["title"], v.name);
            for p in v.params {
                assert!(
                    vb["properties"].get(p.name).is_some(),
                    "{} {}.{}",
                    source.name(),
                    v.name,
                    p.name
                );
            }
        }
    }
}

#[test]
fn schema_defaults_are_the_defaults_the_plugin_applies() {
    // The schema's `default`s filled into a query must give the same stream as the query
    // without them: the editor shows what the plugin would do.
    let query = schema::query();
    for source in SOURCES.iter().filter(|s| s.variant_param().is_some()) {
        let b = branch(&query, source.name());
        let vp = source.variant_param().unwrap();
        for vb in b["oneOf"].as_array().unwrap() {
            let variant = vb["title"].as_str().unwrap();
            let mut bare = serde_json::json!({ "source": source.name(), (vp.name): variant });
            if source.params().iter().any(|p| p.name == "seed") {
                // `seed` has no default (an absent one is drawn at random): fix it in both.
                bare["seed"] = 7.into();
            }
            let mut full = bare.clone();
            let defaults = query["properties"]
                .as_object()
                .unwrap()
                .iter()
                .chain(vb["properties"].as_object().unwrap())
                .filter_map(|(k, v)| Some((k, v.get("default")?)));
            for (k, d) in defaults {
                if k != "source" && k != vp.name {
                    full[k] = d.clone();
                }
            }
            let a = StreamSpec::from_json_bytes(bare.to_string().as_bytes()).unwrap();
            let b = StreamSpec::from_json_bytes(full.to_string().as_bytes()).unwrap();
            assert_eq!(a, b, "{variant}: {full}");
        }
    }
}

#[test]
fn doc_tables_list_every_parameter_and_setting() {
    let tables: String = schema::doc_tables().into_iter().map(|(_, t)| t).collect();
    let listed = |name: &str| tables.contains(&format!("`{name}`"));
    for p in &COMMON {
        assert!(listed(p.name), "{}", p.name);
    }
    for source in SOURCES {
        let variant_params = source.variants().iter().flat_map(|v| v.params);
        for p in source.params().iter().chain(variant_params) {
            assert!(
                listed(p.name),
                "{}.{} is missing from the docs' tables",
                source.name(),
                p.name
            );
        }
        for v in source
            .variants()
            .iter()
            .filter(|_| source.variant_param().is_some())
        {
            assert!(listed(v.name), "variant {}", v.name);
        }
        for s in source.settings() {
            assert!(
                tables.contains(&format!("Data.{}", s.key)),
                "setting {}",
                s.key
            );
        }
    }
    for s in ringstream_plugin::settings::COMMON {
        assert!(
            tables.contains(&format!("Data.{}", s.key)),
            "setting {}",
            s.key
        );
    }
}
