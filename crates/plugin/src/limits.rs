//! The process's limits: what one plugin process may hold and do, whoever asks.
//!
//! A Grafana admin sets them in `grafana.ini`:
//!
//! ```ini
//! [plugin.seed-ringstream-datasource]
//! max_memory_mb = 512
//! viewer_share_percent = 10
//! ```
//!
//! Grafana hands every key of that section to the plugin process as an environment variable
//! `GF_PLUGIN_<KEY>` (the key upper-cased, e.g. `GF_PLUGIN_MAX_MEMORY_MB`; an environment
//! variable of that name on Grafana's own host overrides the ini value). Nothing else in the
//! host environment reaches the plugin (Grafana 12.4+), so this is the one place process-wide
//! settings come from. [`LIMITS`] declares each one once — key, default, range, unit and
//! meaning — and [`Limits::from_env`] reads them; docs/RELIABILITY.md lists them (a test
//! checks the two agree).
//!
//! A value that is not an integer in its range is refused with a [`LimitError`] naming the
//! key and the range; the process then keeps the default for that key and logs why.
//!
//! Shares: a *viewer* (an org's user), an *org* and a *data source* may each use at most their
//! share of the memory budget, of the channels, of the signal rows per second and of a data
//! source's WebSocket connections, so that one of them cannot starve the others.

use std::fmt;

/// One limit, declared once: everything the parser, the defaults and the docs need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The key in `[plugin.seed-ringstream-datasource]` (lower case).
    pub key: &'static str,
    /// The value when the key is not set.
    pub default: u64,
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
    /// The unit, as the docs show it.
    pub unit: &'static str,
    /// What it bounds, in one line.
    pub doc: &'static str,
}

impl Limit {
    /// The environment variable Grafana sets for this key.
    pub fn env_var(&self) -> String {
        format!("GF_PLUGIN_{}", self.key.to_ascii_uppercase())
    }
}

/// A limit's value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plugin setting `{key}` ({env}): {value:?} is not an integer in {min} ..= {max}; \
     the default {default} is used"
)]
pub struct LimitError {
    /// The grafana.ini key.
    pub key: &'static str,
    /// The environment variable it arrived in.
    pub env: String,
    /// What was given (limits are not secrets).
    pub value: String,
    /// Smallest allowed.
    pub min: u64,
    /// Largest allowed.
    pub max: u64,
    /// What is used instead.
    pub default: u64,
}

macro_rules! limits {
    ($( $(#[doc = $doc:literal])+ $field:ident = $default:literal, $min:literal ..= $max:literal, $unit:literal; )+) => {
        /// The process's limits (see the module docs); [`Limits::default`] has every default.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Limits {
            $( $(#[doc = $doc])+ pub $field: u64, )+
        }

        /// Every limit, in the order the docs list them.
        pub const LIMITS: &[Limit] = &[
            $( Limit {
                key: stringify!($field),
                default: $default,
                min: $min,
                max: $max,
                unit: $unit,
                doc: concat!($($doc),+),
            }, )+
        ];

        impl Default for Limits {
            fn default() -> Self {
                Self { $( $field: $default, )+ }
            }
        }

        impl Limits {
            /// The value of the limit called `key`.
            pub fn get(&self, key: &str) -> Option<u64> {
                match key {
                    $( stringify!($field) => Some(self.$field), )+
                    _ => None,
                }
            }

            fn set(&mut self, key: &str, value: u64) {
                match key {
                    $( stringify!($field) => self.$field = value, )+
                    _ => {}
                }
            }
        }
    };
}

limits! {
    /// Memory for stored rows, message queues and cached values across all channels.
    max_memory_mb = 256, 16 ..= 65536, "MiB";
    /// Channels (live streams) open at once.
    max_channels = 10000, 1 ..= 1000000, "channels";
    /// Signal rows produced per second across all channels (CPU).
    max_rows_per_second = 50000, 10 ..= 10000000, "rows/s";
    /// The share of memory, channels, rows per second and connections one viewer may use.
    viewer_share_percent = 25, 1 ..= 100, "%";
    /// The share one org may use.
    org_share_percent = 50, 1 ..= 100, "%";
    /// The share one data source may use.
    datasource_share_percent = 50, 1 ..= 100, "%";
    /// Queries answered in one QueryData request; the others get an error.
    max_queries_per_request = 256, 1 ..= 100000, "queries";
    /// Size of one QueryData response (the Go SDK's gRPC message default).
    max_response_mb = 16, 1 ..= 1024, "MiB";
    /// Queries, subscribes and stream starts worked on at once (blocking threads).
    query_concurrency = 4, 1 ..= 256, "tasks";
    /// How long a channel lives on after its last viewer.
    linger_seconds = 10, 1 ..= 86400, "s";
    /// How long a data source may have its message feeds record after their last viewer
    /// (jsonData `retentionSeconds` asks; 0: only `linger_seconds`).
    max_retention_seconds = 3600, 0 ..= 604800, "s";
    /// WebSocket connections per data source (jsonData `websocketMaxConnections` may lower it).
    max_websocket_connections = 32, 1 ..= 10000, "connections";
    /// Messages per second one MQTT or WebSocket connection reads before it waits.
    feed_messages_per_second = 50000, 1 ..= 10000000, "messages/s";
    /// Bytes of messages queued for one channel before its connection waits.
    channel_queue_kb = 512, 256 ..= 65536, "KiB";
    /// Size of one RunStream packet or initial data (Grafana Live's client queue is 4 MiB).
    max_packet_kb = 1024, 64 ..= 65536, "KiB";
    /// Latest value per topic an MQTT connection keeps for channels that join later.
    mqtt_latest_values_kb = 1024, 0 ..= 65536, "KiB";
    /// Messages one QueryData reads from an engine's history (NATS JetStream, Redis streams) for
    /// one range.
    history_scan_messages = 1000000, 1000 ..= 100000000, "messages";
    /// How long one QueryData reads an engine's history before it answers with what it has.
    history_seconds = 10, 1 ..= 300, "s";
    /// RunStreams of cursor paths (`…/from=<position>`, engine streams) at once on one channel.
    max_cursor_streams = 256, 1 ..= 100000, "RunStreams";
}

/// The key of the one setting that is a directory, not a number: where the plugin keeps the
/// progress of its cursor paths' RunStreams across restarts ([`crate::progress`]).
pub const STATE_DIR_KEY: &str = "state_dir";

/// The directory [`STATE_DIR_KEY`] names: `GF_PLUGIN_STATE_DIR` when set and not empty, else
/// `ringstream-state` in the system's temporary directory.
pub fn state_dir_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> std::path::PathBuf {
    let env = format!("GF_PLUGIN_{}", STATE_DIR_KEY.to_ascii_uppercase());
    match lookup(&env) {
        Some(dir) if !dir.trim().is_empty() => std::path::PathBuf::from(dir.trim()),
        _ => std::env::temp_dir().join("ringstream-state"),
    }
}

impl Limits {
    /// The limits from `GF_PLUGIN_*` environment variables, defaults elsewhere, with an
    /// error for each value that could not be used.
    pub fn from_env() -> (Self, Vec<LimitError>) {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The limits from `lookup` (environment variable name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<LimitError>) {
        let mut limits = Self::default();
        let mut errors = Vec::new();
        for limit in LIMITS {
            let env = limit.env_var();
            let Some(raw) = lookup(&env) else { continue };
            let value = raw.trim();
            if value.is_empty() {
                continue;
            }
            match value.parse::<u64>() {
                Ok(v) if (limit.min..=limit.max).contains(&v) => limits.set(limit.key, v),
                _ => errors.push(LimitError {
                    key: limit.key,
                    env,
                    value: value.chars().take(40).collect(),
                    min: limit.min,
                    max: limit.max,
                    default: limit.default,
                }),
            }
        }
        (limits, errors)
    }

    /// The memory budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.max_memory_mb << 20
    }

    /// The response size limit in bytes.
    pub fn response_bytes(&self) -> usize {
        usize::try_from(self.max_response_mb << 20).unwrap_or(usize::MAX)
    }

    /// The packet size limit in bytes.
    pub fn packet_bytes(&self) -> usize {
        usize::try_from(self.max_packet_kb << 10).unwrap_or(usize::MAX)
    }

    /// The queue bound of one channel in bytes.
    pub fn channel_queue_bytes(&self) -> usize {
        usize::try_from(self.channel_queue_kb << 10).unwrap_or(usize::MAX)
    }

    /// `share_percent` of `total`, at least 1.
    pub fn share(total: u64, share_percent: u64) -> u64 {
        (total.saturating_mul(share_percent) / 100).max(1)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.key, self.env_var())
    }
}

/// The declaration of the limit called `key`.
///
/// # Panics
/// When no limit has that key: keys are compile-time names, so that is a bug.
pub fn limit(key: &str) -> &'static Limit {
    match LIMITS.iter().find(|l| l.key == key) {
        Some(l) => l,
        None => panic!("no limit called {key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_their_ranges() {
        for l in LIMITS {
            assert!((l.min..=l.max).contains(&l.default), "{}", l.key);
            assert_eq!(Limits::default().get(l.key), Some(l.default));
        }
    }

    #[test]
    fn the_state_dir_is_the_setting_or_one_in_the_temporary_directory() {
        let dir = state_dir_from_lookup(|k| (k == "GF_PLUGIN_STATE_DIR").then(|| "/var/x".into()));
        assert_eq!(dir, std::path::PathBuf::from("/var/x"));
        let dir = state_dir_from_lookup(|_| Some("  ".into()));
        assert_eq!(dir, std::env::temp_dir().join("ringstream-state"));
    }

    #[test]
    fn environment_values_are_read_and_bad_ones_named() {
        let env = [
            ("GF_PLUGIN_MAX_MEMORY_MB", "512"),
            ("GF_PLUGIN_MAX_CHANNELS", "lots"),
            ("GF_PLUGIN_VIEWER_SHARE_PERCENT", "0"),
            ("GF_PLUGIN_LINGER_SECONDS", " 30 "),
        ];
        let (limits, errors) = Limits::from_lookup(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(limits.max_memory_mb, 512);
        assert_eq!(limits.linger_seconds, 30);
        assert_eq!(limits.max_channels, 10_000, "a bad value keeps the default");
        assert_eq!(limits.viewer_share_percent, 25);
        let keys: Vec<_> = errors.iter().map(|e| e.key).collect();
        assert_eq!(keys, ["max_channels", "viewer_share_percent"]);
        let text = errors[1].to_string();
        assert!(
            text.contains("GF_PLUGIN_VIEWER_SHARE_PERCENT") && text.contains("1 ..= 100"),
            "{text}"
        );
    }
}
