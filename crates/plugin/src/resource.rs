//! The resources the query editor calls (CallResource,
//! `/api/datasources/uid/<uid>/resources/<path>`): validation and discovery. Any viewer can
//! call them with anything, so each is bounded in time and size, validated like a query,
//! never chooses a host, and never opens a channel.
//!
//! | call | answer |
//! | --- | --- |
//! | `POST validate`, body: a query object | `{"ok": true}` or `{"ok": false, "field": "…", "problem": "…"}` |
//! | `GET topics?source=mqtt&filter=…&limit=…` | `{"topics": […], "truncated": bool}`: what the source's [`SourceKind::topics`](crate::source::SourceKind::topics) finds within [`TOPICS_TIMEOUT`], at most `limit` (≤ [`MAX_TOPICS`]) |
//! | `GET fields?query=<query JSON>` | `{"fields": [{"name": "…", "type": "number"}, …]}`: the fields the query's stream has now (none when it is not open) |
//!
//! Errors are JSON too: `{"error": "…", "field": "…"}` with 400 (a bad parameter), 404 (no such
//! resource), 405 (another method) or 429 (a browse of that data source is running).

use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::channel::ChannelPath;
use crate::hub::StreamHub;
use crate::query::{limits, StreamSpec};
use crate::settings::Settings;
use crate::source::{lookup, TopicsRequest};
use crate::PluginError;

/// How long a `topics` browse may take.
pub const TOPICS_TIMEOUT: Duration = Duration::from_millis(1500);

/// The most topics one `topics` call returns.
pub const MAX_TOPICS: usize = 500;

/// A resource call's answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Json,
}

impl Answer {
    fn ok(body: Json) -> Self {
        Self { status: 200, body }
    }

    fn error(status: u16, field: Option<&str>, message: impl Into<String>) -> Self {
        let mut body = json!({ "error": message.into() });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        Self { status, body }
    }
}

/// Answers `method path` (`url` holds the query string) with `body`, for the data source
/// whose `settings` (and uid) the request carries.
pub async fn call(
    hub: &StreamHub,
    settings: Option<&Settings>,
    uid: Option<&str>,
    method: &str,
    url: &str,
    body: &[u8],
) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path.trim_matches('/');
    let expect = |m: &str| method.eq_ignore_ascii_case(m);
    match path {
        "validate" if expect("POST") => validate(body, uid),
        "topics" if expect("GET") => topics(hub, settings, query).await,
        "fields" if expect("GET") => fields(hub, settings, query),
        "validate" | "topics" | "fields" => {
            Answer::error(405, None, format!("{method} is not allowed here"))
        }
        _ => Answer::error(
            404,
            None,
            format!(
                "no resource {:?}; there are validate, topics and fields",
                path.chars().take(40).collect::<String>()
            ),
        ),
    }
}

/// `POST validate`: the query's first problem, as QueryData would name it.
fn validate(body: &[u8], uid: Option<&str>) -> Answer {
    match StreamSpec::from_json_bytes(body) {
        Err(e) => Answer::ok(json!({"ok": false, "field": e.field, "problem": e.problem})),
        Ok(spec) => match ChannelPath::of(&spec).channel_id(uid.unwrap_or("x")) {
            Err(e) => {
                Answer::ok(json!({"ok": false, "field": "(query)", "problem": e.to_string()}))
            }
            Ok(_) => Answer::ok(json!({"ok": true})),
        },
    }
}

/// `GET topics?source=…&filter=…&limit=…`.
async fn topics(hub: &StreamHub, settings: Option<&Settings>, query: &str) -> Answer {
    let params = match decode_query(query) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let source_name = get("source").unwrap_or("mqtt");
    let Some(source) = lookup(source_name) else {
        return Answer::error(
            400,
            Some("source"),
            format!("unknown source {source_name:?}"),
        );
    };
    let filter = get("filter").unwrap_or("");
    if filter.len() > limits::MAX_TOPIC_LEN {
        return Answer::error(
            400,
            Some("filter"),
            format!("at most {} bytes", limits::MAX_TOPIC_LEN),
        );
    }
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_TOPICS).contains(&n) => n,
        Some(_) => {
            return Answer::error(
                400,
                Some("limit"),
                format!("an integer in 1 ..= {MAX_TOPICS}"),
            )
        }
    };
    let Some(settings) = settings else {
        return Answer::ok(json!({"topics": [], "truncated": false}));
    };
    if !filter.is_empty() && !settings.allows_name(source, filter) {
        return Answer::error(
            403,
            Some("filter"),
            format!(
                "{filter:?} is not within what this data source allows (setting `{}`)",
                source.allow().map_or("", |a| a.setting)
            ),
        );
    }
    let req = TopicsRequest {
        settings,
        connections: hub.connections(),
        filter,
        limit,
        timeout: TOPICS_TIMEOUT,
    };
    let Some(discovery) = source.topics(req) else {
        return Answer::ok(json!({"topics": [], "truncated": false}));
    };
    match discovery.await {
        Ok(found) => {
            // Discovery shows only what a query could then read.
            let topics: Vec<&String> = found
                .topics
                .iter()
                .filter(|t| settings.allows_name(source, t))
                .collect();
            Answer::ok(json!({"topics": topics, "truncated": found.truncated}))
        }
        Err(PluginError::Query(e)) => Answer::error(400, Some("filter"), e.problem),
        Err(e @ PluginError::Refused(_)) => Answer::error(429, None, e.to_string()),
        Err(e) => Answer::error(502, None, settings.redact(&e.to_string())),
    }
}

/// `GET fields?query=…`.
fn fields(hub: &StreamHub, settings: Option<&Settings>, query: &str) -> Answer {
    let params = match decode_query(query) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some((_, text)) = params.iter().find(|(n, _)| n == "query") else {
        return Answer::error(
            400,
            Some("query"),
            "the query's JSON is needed: fields?query=…",
        );
    };
    let spec = match StreamSpec::from_json_bytes(text.as_bytes()) {
        Ok(s) => s,
        Err(e) => return Answer::error(400, Some(&e.field.clone()), e.to_string()),
    };
    if let Some(Err(e)) = settings.map(|s| s.allows(&spec)) {
        return Answer::error(403, None, e.to_string());
    }
    let path = ChannelPath::of(&spec);
    let fields: Vec<Json> = hub
        .fields_of(settings, &path, &spec)
        .unwrap_or_default()
        .iter()
        .map(|f| json!({"name": f.name(), "type": f.field_type().as_str()}))
        .collect();
    Answer::ok(json!({ "fields": fields }))
}

/// `a=1&b=x%2Fy` as pairs, percent-decoded (`+` is a space); bounded like a query.
fn decode_query(query: &str) -> Result<Vec<(String, String)>, Answer> {
    if query.len() > limits::MAX_QUERY_BYTES {
        return Err(Answer::error(
            400,
            None,
            format!(
                "the query string is longer than {} bytes",
                limits::MAX_QUERY_BYTES
            ),
        ));
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (percent_decode(k), percent_decode(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(Answer::error(
                    400,
                    None,
                    "the query string is not valid percent-encoded UTF-8",
                )),
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let (h, l) = (hex(bytes.next()?)?, hex(bytes.next()?)?);
                out.push(h << 4 | l);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_like_a_browser_encodes_them() {
        let p = decode_query("source=mqtt&filter=plant%2F%2B%2Ft+1&limit=5").unwrap();
        assert_eq!(p[1], ("filter".into(), "plant/+/t 1".into()));
        assert!(decode_query("a=%ZZ").is_err());
        assert!(decode_query("a=%FF").is_err(), "not UTF-8");
    }

    #[test]
    fn validation_names_the_field_as_query_data_would() {
        let a = validate(br#"{"source":"mqtt","topic":"a/#/b"}"#, Some("uid"));
        assert_eq!(a.body["ok"], false);
        assert_eq!(a.body["field"], "topic");
        assert_eq!(
            validate(br#"{"signal":"sine"}"#, Some("uid")).body,
            json!({"ok": true})
        );
        let long = format!(r#"{{"source":"mqtt","topic":"{}"}}"#, "a/".repeat(100));
        assert_eq!(
            validate(long.as_bytes(), Some("uid")).body["field"],
            "(query)"
        );
    }
}
