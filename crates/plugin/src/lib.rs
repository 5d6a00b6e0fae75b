//! Ringstream's Grafana backend plugin: query model, channel paths, the stream hub, the
//! `Source` trait and its sources, and health.
//!
//! The plugin is built on [`ringstream_frame`]; this crate is filled by the plugin issue.

pub use ringstream_frame as frame;

/// The plugin id Grafana knows this plugin by (`plugin.json`'s `id`).
pub const PLUGIN_ID: &str = "seed-ringstream-datasource";

/// The executable name declared in `plugin.json` (Grafana appends `_<goos>_<goarch>`).
pub const EXECUTABLE: &str = "gpx_ringstream";
