//! `ringstream-schema DIR`: writes the query and settings JSON Schemas
//! (`ringstream_plugin::schema`) into DIR. `cargo xtask schema` runs it.

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: ringstream-schema DIR"))?;
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    for (name, text) in ringstream_plugin::schema::files() {
        std::fs::write(dir.join(name), text)?;
    }
    // The docs' generated tables, one file each: `cargo xtask schema` puts them in place.
    for (name, text) in ringstream_plugin::schema::doc_tables() {
        std::fs::write(dir.join(format!("{name}.md")), text)?;
    }
    Ok(())
}
