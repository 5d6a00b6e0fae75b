//! Files that must agree with the code: every process limit is in docs/RELIABILITY.md with its
//! environment variable and default, and plugin.json names the plugin as the crate does.

use ringstream_plugin::limits::LIMITS;
use ringstream_plugin::{EXECUTABLE, PLUGIN_ID};

#[test]
fn reliability_md_lists_every_limit_with_its_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/RELIABILITY.md");
    let doc = std::fs::read_to_string(path).expect("docs/RELIABILITY.md");
    for limit in LIMITS {
        let row = format!(
            "| `{}` | `{}` | {} | {} ..= {} ",
            limit.key,
            limit.env_var(),
            limit.default,
            limit.min,
            limit.max
        );
        assert!(
            doc.contains(&row),
            "docs/RELIABILITY.md has no row starting {row:?} (the limit's declaration in \
             crates/plugin/src/limits.rs)"
        );
    }
    let rows = doc
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("| `GF_PLUGIN_"))
        .count();
    assert_eq!(rows, LIMITS.len(), "a row for a limit that does not exist");
    let state_dir = format!(
        "- `{}` (`GF_PLUGIN_{}`",
        ringstream_plugin::limits::STATE_DIR_KEY,
        ringstream_plugin::limits::STATE_DIR_KEY.to_ascii_uppercase()
    );
    assert!(
        doc.contains(&state_dir),
        "docs/RELIABILITY.md has no {state_dir:?}"
    );
}

/// plugin.json is what Grafana and `cargo xtask dist` read; the crate's constants must say the
/// same.
#[test]
fn plugin_json_names_the_crates_id_and_executable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugin.json");
    let text = std::fs::read_to_string(path).expect("plugin.json at the workspace root");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("plugin.json is JSON");
    assert_eq!(
        manifest["id"], PLUGIN_ID,
        "plugin.json's `id` and ringstream_plugin::PLUGIN_ID differ"
    );
    assert_eq!(
        manifest["executable"], EXECUTABLE,
        "plugin.json's `executable` and ringstream_plugin::EXECUTABLE differ"
    );
}
