//! A data source's settings, as Grafana sends them with every request: `jsonData` bytes and
//! the decrypted `secureJsonData` map, into `Settings::parse`.
//!
//! Input: `jsonData`, then up to `SECRET_KEYS.len()` secret values, separated by 0xFF (never
//! a byte of UTF-8); values are read as lossy UTF-8, as Grafana's map holds strings. A
//! non-empty value gets `CANARY` appended, so a secret can never be a word of the plugin's
//! own messages (a secret `URL` would "leak" into every error about `mqttUrl`); an empty one
//! stays empty (an unset secret).
//!
//! Invariants: no error text and no `Debug` of parsed settings contains a secret value of
//! 3 bytes or more, nor the canary at all (which catches a secret's tail shown truncated),
//! unless `jsonData` itself holds it (jsonData is not secret and is quoted in errors);
//! `Settings::redact` removes every such secret the settings hold from a text holding it.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use ringstream_plugin::settings::{InstanceKey, Settings};
use serde_json::Value;

/// The secureJsonData keys the plugin reads, in the order input values are assigned.
const SECRET_KEYS: [&str; 5] = [
    "mqttPassword",
    "httpHeaderValue1",
    "tlsCACert",
    "httpHeaderValue2",
    "httpHeaderValue16",
];
/// Appended to every non-empty secret; appears in no message of the plugin.
const CANARY: &str = "\u{1F511}";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let json_data = parts.next().unwrap_or_default();
    let secure: HashMap<String, String> = SECRET_KEYS
        .iter()
        .zip(parts)
        .map(|(key, value)| {
            let mut value = String::from_utf8_lossy(value).into_owned();
            if !value.is_empty() {
                value.push_str(CANARY);
            }
            (key.to_string(), value)
        })
        .collect();
    let key = InstanceKey {
        org_id: 1,
        uid: "P0123456789".into(),
        updated_ms: 1_700_000_000_000,
    };
    let public = PublicText::of(json_data);
    let secrets: Vec<&str> = secure
        .values()
        .map(String::as_str)
        .filter(|s| s.len() >= 3 && !public.contains(s))
        .collect();
    let check = |what: &str, text: &str| {
        for secret in &secrets {
            assert!(
                !text.contains(secret),
                "{what} shows secret {secret:?}: {text}"
            );
        }
        if !public.contains(CANARY) {
            assert!(
                !text.contains(CANARY),
                "{what} shows part of a secret: {text}"
            );
        }
    };
    match Settings::parse(key, json_data, &secure) {
        Ok(settings) => {
            check("Debug of settings", &format!("{settings:?}"));
            for secret in secrets.iter().filter(|s| used(&settings).any(|u| u == **s)) {
                let redacted = settings.redact(&format!("error: <{secret}>"));
                assert!(
                    !redacted.contains(secret),
                    "redact left {secret:?}: {redacted}"
                );
            }
        }
        Err(e) => {
            assert!(!e.field.is_empty(), "an error without a field: {e}");
            check("the error", &e.to_string());
        }
    }
});

/// The secrets the settings hold (those `redact` knows: of three bytes or more).
fn used(settings: &Settings) -> impl Iterator<Item = &str> {
    settings.secrets()
}

/// Everything of `jsonData` an error or `Debug` may quote: the raw text and every string
/// (keys included) that JSON escapes decode to.
struct PublicText(Vec<String>);

impl PublicText {
    fn of(json_data: &[u8]) -> Self {
        let mut texts = vec![String::from_utf8_lossy(json_data).into_owned()];
        if let Ok(value) = serde_json::from_slice::<Value>(json_data) {
            collect_strings(&value, &mut texts);
        }
        Self(texts)
    }

    fn contains(&self, needle: &str) -> bool {
        self.0.iter().any(|t| t.contains(needle))
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}
