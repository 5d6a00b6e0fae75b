//! What a data source's admin allows its queries to read: patterns over topic filters,
//! subjects, keys and paths (`mqttAllow`, `natsAllow`, `websocketAllow`, …), enforced
//! wherever a query names what it reads — QueryData, channel paths (SubscribeStream,
//! RunStream), alert rules and resource calls alike — because they all open channels or
//! read the engine through [`Settings::allows`](crate::settings::Settings::allows).
//!
//! A query's value is allowed when one pattern *covers* it: every name the value can stand
//! for (a filter with wildcards stands for many topics) is a name the pattern matches. So
//! `plant/#` covers `plant/+/temp` and `plant`, but `plant/+` does not cover `plant/#`, and
//! no pattern but a wildcard of the same reach covers a wildcard. An empty list allows
//! everything (the default).
//!
//! ```
//! use ringstream_plugin::allow::Syntax;
//!
//! let mqtt = Syntax::MQTT;
//! assert!(mqtt.covers("plant/#", "plant/+/temp"));
//! assert!(!mqtt.covers("plant/+", "plant/#"));
//! assert!(Syntax::Glob.covers("/prices/*", "/prices/eur?depth=5"));
//! assert!(!Syntax::Glob.covers("/prices/*", "/orders"));
//! ```

/// A source's allow list: the setting that holds it and the parameters it restricts.
#[derive(Debug, Clone, Copy)]
pub struct Allow {
    /// The data source setting (jsonData) holding the patterns, one per line or
    /// comma-separated; declared among the source's settings.
    pub setting: &'static str,
    /// The parameters whose values must be covered (`topic`; Redis: `key` and `channel`).
    pub params: &'static [&'static crate::param::Param],
    /// How patterns (and wildcard values) read.
    pub syntax: Syntax,
}

impl Allow {
    /// The declaration of the list's setting, for the source's settings section: text of at
    /// most the record lists' length, one pattern per line.
    pub const fn declaration(self, doc: &'static str) -> crate::settings::Setting {
        crate::settings::Setting {
            key: self.setting,
            secure: false,
            kind: crate::settings::SettingKind::Text {
                max_len: crate::settings::limits::MAX_RECORD_LIST_LEN,
            },
            doc,
            repeat: None,
        }
    }
}

/// How a pattern reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Names of levels split by `sep`: `one` stands for exactly one level, `rest` (only
    /// last) for the remaining levels — MQTT topic filters and NATS subjects.
    Levels {
        /// The level separator.
        sep: char,
        /// The one-level wildcard.
        one: &'static str,
        /// The multi-level wildcard.
        rest: &'static str,
        /// Whether `rest` also stands for no level at all (MQTT: `a/#` matches `a`; NATS:
        /// `a.>` needs at least one more token).
        rest_may_be_empty: bool,
    },
    /// Text where `*` stands for any characters (`/` included): WebSocket paths, Redis
    /// keys and channels. In a value, `*`, `?`, `[`, `]` and `\` are wildcards of the
    /// value's own (a Redis channel pattern) and only a pattern's `*` covers them.
    Glob,
}

/// Longest pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Most patterns in one allow list.
pub const MAX_PATTERNS: usize = 64;

impl Syntax {
    /// MQTT topic filters: `+` one level, `#` the rest (or none).
    pub const MQTT: Syntax = Syntax::Levels {
        sep: '/',
        one: "+",
        rest: "#",
        rest_may_be_empty: true,
    };

    /// NATS subjects: `*` one token, `>` one or more.
    pub const NATS: Syntax = Syntax::Levels {
        sep: '.',
        one: "*",
        rest: ">",
        rest_may_be_empty: false,
    };

    /// The pattern that covers every name (`#`, `>`, `*`).
    pub fn everything(self) -> &'static str {
        match self {
            Syntax::Levels { rest, .. } => rest,
            Syntax::Glob => "*",
        }
    }

    /// Whether `pattern` covers `value`: every name `value` stands for matches `pattern`.
    pub fn covers(self, pattern: &str, value: &str) -> bool {
        match self {
            Syntax::Levels {
                sep,
                one,
                rest,
                rest_may_be_empty,
            } => {
                let mut p = pattern.split(sep);
                let mut v = value.split(sep);
                loop {
                    match (p.next(), v.next()) {
                        (Some(pl), vl) if pl == rest => {
                            // The rest of the value, however long, and with any wildcard.
                            return vl.is_some() || rest_may_be_empty;
                        }
                        (Some(pl), Some(vl)) if pl == one => {
                            if vl == rest {
                                return false; // many levels are not one
                            }
                        }
                        (Some(pl), Some(vl)) => {
                            if pl != vl || vl == one || vl == rest {
                                return false;
                            }
                        }
                        (None, None) => return true,
                        // MQTT's `a/#` matches `a`: the value ends with a `#` the pattern
                        // covers only if it covers it level by level, which it did not.
                        _ => return false,
                    }
                }
            }
            Syntax::Glob => glob_covers(pattern.as_bytes(), value.as_bytes()),
        }
    }

    /// Checks that `pattern` is one this syntax reads.
    ///
    /// # Errors
    /// What is wrong with it, for the settings error that names the item.
    pub fn check(self, pattern: &str) -> Result<(), String> {
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(format!("longer than {MAX_PATTERN_LEN} bytes"));
        }
        if pattern.chars().any(char::is_control) {
            return Err("may not contain control characters".into());
        }
        if let Syntax::Levels { sep, one, rest, .. } = self {
            let levels: Vec<&str> = pattern.split(sep).collect();
            for (i, level) in levels.iter().enumerate() {
                if level.contains(rest) && (*level != rest || i + 1 != levels.len()) {
                    return Err(format!("{rest} must be a whole level, and the last"));
                }
                if level.contains(one) && *level != one {
                    return Err(format!("{one} must be a whole level"));
                }
            }
        }
        Ok(())
    }
}

/// Whether glob `p` (only `*` special) covers value `v` (whose own wildcards only a `*`
/// covers). Iterative with one backtrack point: linear in practice, at most |p|·|v|.
fn glob_covers(p: &[u8], v: &[u8]) -> bool {
    let wild = |c: u8| matches!(c, b'*' | b'?' | b'[' | b']' | b'\\');
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] && !wild(v[vi]) {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_filters_cover_what_they_would_match() {
        let m = Syntax::MQTT;
        assert!(m.covers("#", "anything/at/all"));
        assert!(m.covers("#", "+/x/#"));
        assert!(m.covers("plant/#", "plant"));
        assert!(m.covers("plant/#", "plant/a/b"));
        assert!(m.covers("plant/#", "plant/+/temp"));
        assert!(m.covers("plant/+/temp", "plant/a/temp"));
        assert!(m.covers("plant/+/temp", "plant/+/temp"));
        assert!(!m.covers("plant/+/temp", "plant/#"));
        assert!(!m.covers("plant/+", "plant/a/b"));
        assert!(!m.covers("plant/a", "plant/+"));
        assert!(!m.covers("plant/a", "plant/#"));
        assert!(!m.covers("plant/a", "plant"));
        assert!(!m.covers("plant", "plant/a"));
        assert!(!m.covers("plant/#", "plants"));
        assert!(!m.covers("plant/#", "office/plant"));
    }

    #[test]
    fn nats_rest_wildcard_needs_a_token() {
        let n = Syntax::NATS;
        assert!(n.covers("plant.>", "plant.a.b"));
        assert!(n.covers("plant.>", "plant.*"));
        assert!(n.covers("plant.>", "plant.>"));
        assert!(!n.covers("plant.>", "plant"));
        assert!(n.covers("plant.*.temp", "plant.a.temp"));
        assert!(!n.covers("plant.*", "plant.>"));
        assert!(!n.covers("plant.*", "plant.a.b"));
    }

    #[test]
    fn globs_cover_a_value_wildcard_only_with_a_star() {
        let g = Syntax::Glob;
        assert!(g.covers("*", "/anything?at=all"));
        assert!(g.covers("sensor:*", "sensor:1"));
        assert!(g.covers("sensor:*", "sensor:*"));
        assert!(g.covers("sensor:*", "sensor:1?"));
        assert!(g.covers("a*b*c", "aXXbYYc"));
        assert!(!g.covers("sensor:1", "sensor:?"));
        assert!(
            !g.covers("sensor:?", "sensor:1"),
            "? is literal in a pattern"
        );
        assert!(!g.covers("sensor:*", "sensors"));
        assert!(!g.covers("*b", "a*"));
        assert!(!g.covers("", "x"));
        assert!(g.covers("", ""));
    }

    #[test]
    fn a_long_glob_against_a_long_value_stays_cheap() {
        // Guards against exponential backtracking: many stars, a near miss.
        let p = "*a".repeat(500);
        let v = "a".repeat(499);
        assert!(!Syntax::Glob.covers(&p, &v));
    }

    #[test]
    fn patterns_are_checked_by_their_syntax() {
        assert!(Syntax::MQTT.check("a/+/#").is_ok());
        assert!(Syntax::MQTT.check("a/#/b").unwrap_err().contains("last"));
        assert!(Syntax::MQTT
            .check("a/b+")
            .unwrap_err()
            .contains("whole level"));
        assert!(Syntax::NATS.check("a.>.b").is_err());
        assert!(Syntax::Glob.check("a\nb").is_err());
        assert!(Syntax::Glob
            .check(&"x".repeat(MAX_PATTERN_LEN + 1))
            .is_err());
    }
}
