//! Docs that must agree with the code: every process limit is in docs/RELIABILITY.md with its
//! environment variable and default.

use ringstream_plugin::limits::LIMITS;

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
}
