//! Data source settings: the connections the data source's admin configured. A query never
//! sets any of this; it only picks what to read (a topic, a path).
//!
//! Grafana sends the settings with every request (`DataSourceInstanceSettings`): `jsonData`
//! as JSON bytes, `secureJsonData` decrypted into a map, the data source's `uid` and
//! `lastUpdated`. [`Settings::parse`] validates them field by field:
//!
//! | key | where | meaning |
//! | --- | --- | --- |
//! | `mqttUrl` | jsonData | `mqtt://host[:1883]` or `mqtts://host[:8883]` (TLS) |
//! | `mqttUsername` | jsonData | user name; empty: anonymous |
//! | `mqttPassword` | secureJsonData | password (needs a user name) |
//! | `mqttClientId` | jsonData | MQTT client id; empty: `ringstream-<random>` |
//! | `websocketUrl` | jsonData | `ws://host[:80][/base][?query]` or `wss://…` (TLS); each query's path is appended |
//! | `httpHeaderName1..16` | jsonData | a header sent with the WebSocket handshake |
//! | `httpHeaderValue1..16` | secureJsonData | that header's value, e.g. `Bearer <token>` |
//! | `tlsSkipVerify` | jsonData | accept any server certificate (tests only) |
//! | `tlsAuthWithCACert` | jsonData | trust only the CA in `tlsCACert` instead of the system's |
//! | `tlsCACert` | secureJsonData | PEM CA certificate(s) |
//! | `memoryLimitMb` | jsonData | this data source's memory limit, MiB; only lowers its share of the process's budget |
//! | `websocketMaxConnections` | jsonData | this data source's WebSocket connections at most; only lowers `max_websocket_connections` |
//!
//! Secrets live in [`Secret`], whose `Debug` prints `***`; no error, log line or health
//! message built from settings contains a secret's value ([`Settings::redact`] scrubs text
//! that came from a library, as a second line of defence). URLs may not carry credentials
//! (`user:pass@host`): those belong in the fields made for them.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio_tungstenite::tungstenite::http::Uri;

/// Limits on settings.
pub mod limits {
    /// Largest `jsonData` accepted, in bytes.
    pub const MAX_JSON_DATA_BYTES: usize = 64 * 1024;
    /// Longest URL.
    pub const MAX_URL_LEN: usize = 2048;
    /// Longest user name, client id or header name.
    pub const MAX_NAME_LEN: usize = 256;
    /// Longest password or header value.
    pub const MAX_SECRET_LEN: usize = 8 * 1024;
    /// Largest CA certificate bundle (PEM), in bytes.
    pub const MAX_CA_CERT_BYTES: usize = 256 * 1024;
    /// WebSocket headers: `httpHeaderName1` ..= `httpHeaderName16`.
    pub const MAX_HEADERS: usize = 16;
    /// Largest `memoryLimitMb`.
    pub const MAX_MEMORY_LIMIT_MB: u64 = 65_536;
    /// Largest `websocketMaxConnections`.
    pub const MAX_WEBSOCKET_CONNECTIONS: u64 = 10_000;
    /// Largest `retentionSeconds` (the plugin's `max_retention_seconds` may lower it).
    pub const MAX_RETENTION_SECONDS: u64 = 604_800;
    /// Most streams one data source records (`mqttRecord`, `websocketRecord`).
    pub const MAX_RECORDED: usize = 32;
    /// Longest record list, in bytes.
    pub const MAX_RECORD_LIST_LEN: usize = 16 * 1024;
}

/// One data source setting, declared once: the settings schema (and from it the config
/// editor) and the docs come from it; the parser reads the setting by this key.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The key in jsonData (or secureJsonData when `secure`).
    pub key: &'static str,
    /// Whether it is a secret: stored encrypted in secureJsonData, never sent back.
    pub secure: bool,
    /// What it holds.
    pub kind: SettingKind,
    /// What it means, in one line.
    pub doc: &'static str,
    /// `Some(n)`: the keys are `key1` ..= `keyN` (header pairs).
    pub repeat: Option<u8>,
}

/// What a setting holds.
#[derive(Debug, Clone, Copy)]
pub enum SettingKind {
    /// A URL with one of these schemes.
    Url {
        /// The schemes, e.g. `mqtt`, `mqtts`.
        schemes: &'static [&'static str],
    },
    /// Text of at most `max_len` bytes.
    Text {
        /// Longest allowed.
        max_len: usize,
    },
    /// `true` or `false` (absent: false).
    Boolean,
    /// An integer in `min ..= max` (absent: the plugin's default).
    Integer {
        /// Smallest.
        min: u64,
        /// Largest.
        max: u64,
    },
}

/// The settings every data source has, whatever its sources: TLS for any `…s://` URL, and
/// the data source's own memory limit.
pub const COMMON: &[Setting] = &[
    Setting {
        key: "tlsSkipVerify",
        secure: false,
        kind: SettingKind::Boolean,
        doc: "accept any server certificate (mqtts://, wss://); for tests only",
        repeat: None,
    },
    Setting {
        key: "tlsAuthWithCACert",
        secure: false,
        kind: SettingKind::Boolean,
        doc: "verify servers against tlsCACert only, instead of the system's CA certificates",
        repeat: None,
    },
    Setting {
        key: "tlsCACert",
        secure: true,
        kind: SettingKind::Text {
            max_len: limits::MAX_CA_CERT_BYTES,
        },
        doc: "PEM CA certificate(s): one or more -----BEGIN CERTIFICATE----- blocks",
        repeat: None,
    },
    Setting {
        key: "tlsAuth",
        secure: false,
        kind: SettingKind::Boolean,
        doc: "present a client certificate (tlsClientCert, tlsClientKey) to servers that ask \
              for one (mutual TLS)",
        repeat: None,
    },
    Setting {
        key: "tlsClientCert",
        secure: true,
        kind: SettingKind::Text {
            max_len: limits::MAX_CA_CERT_BYTES,
        },
        doc: "PEM client certificate (chain): -----BEGIN CERTIFICATE----- blocks",
        repeat: None,
    },
    Setting {
        key: "tlsClientKey",
        secure: true,
        kind: SettingKind::Text {
            max_len: limits::MAX_CA_CERT_BYTES,
        },
        doc: "the client certificate's PEM private key (PKCS#8, PKCS#1 or SEC1)",
        repeat: None,
    },
    Setting {
        key: "retentionSeconds",
        secure: false,
        kind: SettingKind::Integer {
            min: 0,
            max: limits::MAX_RETENTION_SECONDS,
        },
        doc: "how long a message feed's stream (MQTT, WebSocket, core NATS, Redis Pub/Sub) keeps recording \
              after its last viewer, so that a panel opened meanwhile shows what came; at \
              most the plugin's max_retention_seconds",
        repeat: None,
    },
    Setting {
        key: "memoryLimitMb",
        secure: false,
        kind: SettingKind::Integer {
            min: 1,
            max: limits::MAX_MEMORY_LIMIT_MB,
        },
        doc: "this data source's memory limit (MiB); only lowers its share of the plugin's \
              memory budget",
        repeat: None,
    },
];

/// A settings field that is missing, malformed or out of range. The problem never quotes a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data source setting `{field}`: {problem}")]
pub struct SettingsError {
    /// The field, as spelled in jsonData or secureJsonData.
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl SettingsError {
    pub(crate) fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A secret setting. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it (a connection's handshake).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Identifies a data source instance *and* the version of its settings: a settings change
/// (a new `lastUpdated`) is a new key, so new connections are made for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    /// The Grafana organisation (uids are unique only within one).
    pub org_id: i64,
    /// The data source's uid.
    pub uid: String,
    /// `lastUpdated` of its settings, epoch milliseconds.
    pub updated_ms: i64,
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.org_id, self.uid, self.updated_ms)
    }
}

/// Where to connect: scheme, host and port, without path or credentials. Its `Display`
/// (`mqtts://host:8883`) is what logs and messages show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scheme as written (`mqtt`, `mqtts`, `ws`, `wss`).
    pub scheme: &'static str,
    /// Whether the scheme asks for TLS.
    pub tls: bool,
    /// Host name or IP address, IPv6 without brackets.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
}

impl Endpoint {
    /// `host:port`, IPv6 in brackets: what a socket address lookup takes.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

/// TLS options shared by `mqtts://` and `wss://`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Accept any server certificate.
    pub skip_verify: bool,
    /// Trust only these CA certificates (PEM) instead of the system's.
    pub ca_cert: Option<Secret>,
    /// A client certificate chain and its private key (PEM), for mutual TLS.
    pub client: Option<(Secret, Secret)>,
}

/// A source's section of the settings, parsed by the source into its own type (declared
/// in its [`SectionInfo`](crate::source::SectionInfo)), which it reads back with
/// [`Settings::section`].
pub trait Section: Any + fmt::Debug + Send + Sync {
    /// Every secret value the section holds, for [`Settings::redact`].
    fn secrets(&self) -> Vec<&str>;

    /// The section from a data source's settings; `None` when they do not configure the
    /// source (its required setting is absent).
    ///
    /// # Errors
    /// A [`SettingsError`] naming the bad setting, never quoting a secret.
    fn parse(data: &SettingsData<'_>) -> Result<Option<Self>, SettingsError>
    where
        Self: Sized;
}

/// A data source instance's settings, validated: the common ones and each configured
/// source's section.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which instance, which version.
    pub key: InstanceKey,
    /// Each configured source's section, by source name.
    sections: Vec<(&'static str, Arc<dyn Section>)>,
    /// TLS options.
    pub tls: TlsSettings,
    /// `memoryLimitMb` in bytes: the data source's own memory limit.
    pub memory_limit_bytes: Option<u64>,
    /// `websocketMaxConnections`.
    pub websocket_max_connections: Option<u64>,
    /// `retentionSeconds`: how long feed streams record after their last viewer.
    pub retention_seconds: Option<u64>,
    /// Each source's allow list ([`Allow`](crate::allow::Allow)), by source name; a source
    /// without one (or with an empty one) may read anything.
    allowed: Vec<(&'static str, Vec<String>)>,
}

impl Settings {
    /// Parses and validates an instance's settings.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first bad field.
    pub fn parse(
        key: InstanceKey,
        json_data: &[u8],
        secure: &HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        if json_data.len() > limits::MAX_JSON_DATA_BYTES {
            return Err(SettingsError::new(
                "jsonData",
                format!(
                    "{} bytes; at most {} are accepted",
                    json_data.len(),
                    limits::MAX_JSON_DATA_BYTES
                ),
            ));
        }
        let json: Json = if json_data.iter().all(u8::is_ascii_whitespace) {
            Json::Object(Map::new())
        } else {
            serde_json::from_slice(json_data)
                .map_err(|e| SettingsError::new("jsonData", format!("invalid JSON: {e}")))?
        };
        let Json::Object(obj) = json else {
            return Err(SettingsError::new("jsonData", "expected a JSON object"));
        };
        let data = SettingsData { obj: &obj, secure };
        let mut sections = Vec::new();
        for source in crate::source::SOURCES {
            if let Some(section) = source.parse_settings(&data)? {
                sections.push((source.name(), section));
            }
        }
        let skip_verify = data.boolean("tlsSkipVerify")?;
        let ca_cert = if data.boolean("tlsAuthWithCACert")? {
            let pem = data
                .secret("tlsCACert", limits::MAX_CA_CERT_BYTES)?
                .ok_or_else(|| {
                    SettingsError::new(
                        "tlsCACert",
                        "`tlsAuthWithCACert` is on but no CA certificate is set",
                    )
                })?;
            let parsed =
                CertificateDer::pem_slice_iter(pem.0.as_bytes()).collect::<Result<Vec<_>, _>>();
            match parsed {
                Ok(certs) if !certs.is_empty() => {}
                _ => {
                    return Err(SettingsError::new(
                        "tlsCACert",
                        "expected PEM certificates (-----BEGIN CERTIFICATE----- ... \
                         -----END CERTIFICATE-----)",
                    ))
                }
            }
            Some(pem)
        } else {
            None
        };
        let client = if data.boolean("tlsAuth")? {
            Some(client_certificate(&data)?)
        } else {
            None
        };
        let memory_limit_bytes = data
            .integer("memoryLimitMb", 1, limits::MAX_MEMORY_LIMIT_MB)?
            .map(|mb| mb << 20);
        let websocket_max_connections = data.integer(
            "websocketMaxConnections",
            1,
            limits::MAX_WEBSOCKET_CONNECTIONS,
        )?;
        let retention_seconds =
            data.integer("retentionSeconds", 0, limits::MAX_RETENTION_SECONDS)?;
        let mut allowed = Vec::new();
        for source in crate::source::SOURCES {
            if let Some(allow) = source.allow() {
                let patterns = data.list(allow.setting, crate::allow::MAX_PATTERNS, |p| {
                    allow.syntax.check(p)
                })?;
                if !patterns.is_empty() {
                    allowed.push((source.name(), patterns));
                }
            }
        }
        Ok(Settings {
            key,
            sections,
            tls: TlsSettings {
                skip_verify,
                ca_cert,
                client,
            },
            memory_limit_bytes,
            websocket_max_connections,
            retention_seconds,
            allowed,
        })
    }

    /// Whether the data source's allow list for `spec`'s source covers what `spec` reads
    /// (see [`crate::allow`]).
    ///
    /// # Errors
    /// [`PluginError::NotAllowed`](crate::PluginError::NotAllowed) naming the parameter, its
    /// value and the setting.
    pub fn allows(&self, spec: &crate::query::StreamSpec) -> Result<(), crate::PluginError> {
        let Some(allow) = spec.source.allow() else {
            return Ok(());
        };
        let Some((_, patterns)) = self.allowed.iter().find(|(n, _)| *n == spec.source.name())
        else {
            return Ok(());
        };
        for param in allow.params {
            if let Some(value) = spec.values.text(param.name) {
                if !patterns.iter().any(|p| allow.syntax.covers(p, value)) {
                    return Err(crate::PluginError::NotAllowed {
                        field: param.name,
                        value: value.to_owned(),
                        setting: allow.setting,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the allow list of `source` covers `name` (a discovered topic, or a filter
    /// to browse); true when the source has no list.
    pub fn allows_name(&self, source: &dyn crate::source::SourceKind, name: &str) -> bool {
        let Some(allow) = source.allow() else {
            return true;
        };
        self.allowed
            .iter()
            .find(|(n, _)| *n == source.name())
            .is_none_or(|(_, patterns)| patterns.iter().any(|p| allow.syntax.covers(p, name)))
    }

    /// The section of type `T` (each source has its own type); `None` when the data source
    /// does not configure that source.
    pub fn section<T: Section>(&self) -> Option<&T> {
        self.sections
            .iter()
            .find_map(|(_, section)| (&**section as &dyn Any).downcast_ref::<T>())
    }

    /// Whether the data source configures the source called `source`.
    pub fn configures(&self, source: &str) -> bool {
        self.sections.iter().any(|(name, _)| *name == source)
    }

    /// Every secret value the settings hold (of three bytes or more: replacing a one- or
    /// two-letter secret would garble messages without protecting anything a reader could
    /// not guess).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.sections
            .iter()
            .flat_map(|(_, s)| s.secrets())
            .chain(self.tls.ca_cert.iter().map(Secret::expose))
            .chain(
                self.tls
                    .client
                    .iter()
                    .flat_map(|(c, k)| [c.expose(), k.expose()]),
            )
            .filter(|s| s.len() >= 3)
    }

    /// `text` with every secret value replaced by `***`: for messages that come from a
    /// library (an error's text), which should never hold one, as a second line of defence.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets() {
            if out.contains(secret) {
                out = out.replace(secret, "***");
            }
        }
        out
    }

    /// A health check's outcome with every secret replaced by `***`, whichever way it went.
    pub(crate) fn redact_outcome(&self, outcome: Result<String, String>) -> Result<String, String> {
        outcome
            .map(|m| self.redact(&m))
            .map_err(|m| self.redact(&m))
    }
}

/// `tlsClientCert` and `tlsClientKey`, both there and both PEM of their kind.
fn client_certificate(data: &SettingsData<'_>) -> Result<(Secret, Secret), SettingsError> {
    let missing = |key: &str| {
        SettingsError::new(
            key,
            "`tlsAuth` is on but no client certificate and key are set",
        )
    };
    let cert = data
        .secret("tlsClientCert", limits::MAX_CA_CERT_BYTES)?
        .ok_or_else(|| missing("tlsClientCert"))?;
    let key = data
        .secret("tlsClientKey", limits::MAX_CA_CERT_BYTES)?
        .ok_or_else(|| missing("tlsClientKey"))?;
    if pem_certificates(cert.expose()).is_empty() {
        return Err(SettingsError::new(
            "tlsClientCert",
            "expected PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
        ));
    }
    if PrivateKeyDer::from_pem_slice(key.expose().as_bytes()).is_err() {
        return Err(SettingsError::new(
            "tlsClientKey",
            "expected a PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC \
             PRIVATE KEY)",
        ));
    }
    Ok((cert, key))
}

/// The private key of a PEM text (validated by [`Settings::parse`]).
pub(crate) fn pem_private_key(pem: &str) -> Option<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).ok()
}

/// The certificates of a PEM bundle (validated by [`Settings::parse`], so none is skipped
/// there; here a bad block is just left out).
pub(crate) fn pem_certificates(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

/// Typed access to a data source's jsonData and secureJsonData, for the sources' parsers.
#[derive(Debug)]
pub struct SettingsData<'a> {
    obj: &'a Map<String, Json>,
    secure: &'a HashMap<String, String>,
}

impl SettingsData<'_> {
    /// A non-empty string (trimmed), or `None` when absent, null or empty.
    ///
    /// # Errors
    /// Not a string, or longer than `max` bytes.
    pub fn string(&self, key: &str, max: usize) -> Result<Option<&str>, SettingsError> {
        match self.obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => {
                let s = s.trim();
                if s.len() > max {
                    return Err(SettingsError::new(key, format!("longer than {max} bytes")));
                }
                Ok((!s.is_empty()).then_some(s))
            }
            Some(_) => Err(SettingsError::new(key, "expected a string")),
        }
    }

    /// An integer in `min..=max` (a number, or a string of digits as a form may send it);
    /// `None` when absent, null or empty.
    ///
    /// # Errors
    /// Not an integer in range.
    pub fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, SettingsError> {
        let bad = || SettingsError::new(key, format!("expected an integer in {min} ..= {max}"));
        let n = match self.obj.get(key) {
            None | Some(Json::Null) => return Ok(None),
            Some(Json::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Json::String(s)) => s.trim().parse::<u64>().map_err(|_| bad())?,
            Some(Json::Number(n)) => n.as_u64().ok_or_else(bad)?,
            Some(_) => return Err(bad()),
        };
        if (min..=max).contains(&n) {
            Ok(Some(n))
        } else {
            Err(bad())
        }
    }

    /// A list written one item per line or comma-separated (`mqttRecord`, `mqttAllow`),
    /// each item trimmed, empty ones left out, each checked by `check` (the error names the
    /// item).
    ///
    /// # Errors
    /// Not a string, longer than [`limits::MAX_RECORD_LIST_LEN`], more than `max` items,
    /// or an item `check` refuses.
    pub fn list(
        &self,
        key: &str,
        max: usize,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Vec<String>, SettingsError> {
        let Some(text) = self.string(key, limits::MAX_RECORD_LIST_LEN)? else {
            return Ok(Vec::new());
        };
        let items: Vec<String> = text
            .split(['\n', ','])
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .collect();
        if items.len() > max {
            return Err(SettingsError::new(
                key,
                format!("{} items; at most {max} are accepted", items.len()),
            ));
        }
        for item in &items {
            check(item).map_err(|why| SettingsError::new(key, format!("{item:?}: {why}")))?;
        }
        Ok(items)
    }

    /// `true`/`false`, false when absent.
    ///
    /// # Errors
    /// Not a boolean.
    pub fn boolean(&self, key: &str) -> Result<bool, SettingsError> {
        match self.obj.get(key) {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(SettingsError::new(key, "expected true or false")),
        }
    }

    /// A secret of secureJsonData, `None` when absent or empty.
    ///
    /// # Errors
    /// Longer than `max` bytes (the error never quotes it).
    pub fn secret(&self, key: &str, max: usize) -> Result<Option<Secret>, SettingsError> {
        match self.secure.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.len() > max => {
                Err(SettingsError::new(key, format!("longer than {max} bytes")))
            }
            Some(v) => Ok(Some(Secret(v.clone()))),
        }
    }
}

/// Parses `url` with one of `schemes` (name, TLS, default port) into its endpoint, path and
/// query. Messages quote the scheme at most, never the URL (it could hold a token).
///
/// # Errors
/// A [`SettingsError`] about `field` naming what is wrong with the URL.
pub fn parse_url(
    field: &str,
    url: &str,
    schemes: &[(&'static str, bool, u16)],
) -> Result<(Endpoint, String, Option<String>), SettingsError> {
    let allowed = schemes
        .iter()
        .map(|(s, _, _)| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(" or ");
    let bad =
        |why: &str| SettingsError::new(field, format!("{why}; expected {allowed}host[:port]"));
    let (scheme, _) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let scheme_lower = scheme.to_ascii_lowercase();
    let &(scheme, tls, default_port) = schemes
        .iter()
        .find(|(s, _, _)| *s == scheme_lower)
        .ok_or_else(|| bad("unsupported scheme"))?;
    if url.contains('#') {
        return Err(bad("a URL fragment (#) is not allowed"));
    }
    // The port as written, checked before the URL parser sees it: `Uri` reports a port it
    // cannot hold as none, which would silently become the default port.
    let authority_text = url[scheme.len() + 3..]
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    if authority_text.contains('@') {
        return Err(SettingsError::new(
            field,
            "credentials in the URL are not allowed: use the user name, password or header fields",
        ));
    }
    let after_host = authority_text
        .rsplit_once(']')
        .map_or(authority_text, |(_, after)| after);
    let written = after_host.rsplit_once(':').map(|(_, p)| p);
    let port = match written {
        None => default_port,
        Some("") => return Err(bad("empty port")),
        Some(p) => match p.parse::<u16>() {
            Ok(0) => return Err(bad("port 0")),
            Ok(p) => p,
            Err(_) => return Err(bad("the port must be a number in 1 ..= 65535")),
        },
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((
        Endpoint {
            scheme,
            tls,
            host: host.to_owned(),
            port,
        },
        uri.path().to_owned(),
        uri.query().map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::mqtt::MqttSettings;
    use crate::source::websocket::WebSocketSettings;

    fn mqtt(s: &Settings) -> MqttSettings {
        s.section::<MqttSettings>().unwrap().clone()
    }

    fn websocket(s: &Settings) -> WebSocketSettings {
        s.section::<WebSocketSettings>().unwrap().clone()
    }

    fn key() -> InstanceKey {
        InstanceKey {
            org_id: 1,
            uid: "ds1".into(),
            updated_ms: 5,
        }
    }

    fn parse(json: &str, secure: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let secure = secure
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::parse(key(), json.as_bytes(), &secure)
    }

    #[test]
    fn empty_settings_configure_nothing() {
        let s = parse("", &[]).unwrap();
        assert!(!s.configures("mqtt") && !s.configures("websocket"));
        assert_eq!(s.tls, TlsSettings::default());
    }

    #[test]
    fn mqtt_urls_take_default_ports_and_tls_from_the_scheme() {
        let s = parse(r#"{"mqttUrl":"mqtt://broker"}"#, &[]).unwrap();
        let m = mqtt(&s);
        assert_eq!(
            (m.endpoint.host.as_str(), m.endpoint.port, m.endpoint.tls),
            ("broker", 1883, false)
        );
        let s = parse(r#"{"mqttUrl":"MQTTS://[::1]"}"#, &[]).unwrap();
        let e = mqtt(&s).endpoint;
        assert_eq!((e.host.as_str(), e.port, e.tls), ("::1", 8883, true));
        assert_eq!(e.to_string(), "mqtts://[::1]:8883");
    }

    #[test]
    fn bad_urls_name_the_field_and_never_echo_the_url() {
        for (url, field) in [
            ("http://x", "mqttUrl"),
            ("mqtt://", "mqttUrl"),
            ("mqtt://u:hunter2@x", "mqttUrl"),
            ("mqtt://x:0", "mqttUrl"),
            ("mqtt://x/path", "mqttUrl"),
        ] {
            let e = parse(&format!(r#"{{"mqttUrl":"{url}"}}"#), &[]).unwrap_err();
            assert_eq!(e.field, field, "{url}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = parse(r#"{"websocketUrl":"ftp://x"}"#, &[]).unwrap_err();
        assert_eq!(e.field, "websocketUrl");
        assert!(e.problem.contains("ws:// or wss://"), "{e}");
    }

    #[test]
    fn ports_are_what_was_written_or_an_error() {
        for url in [
            "mqtt://x:99999",
            "mqtt://x:18x3",
            "mqtt://[::1]:65536",
            "mqtt://x:",
        ] {
            let e = parse(&format!(r#"{{"mqttUrl":"{url}"}}"#), &[]).unwrap_err();
            assert_eq!(e.field, "mqttUrl", "{url}");
            assert!(e.problem.contains("port"), "{url}: {e}");
        }
        let e = parse(r#"{"websocketUrl":"ws://h:70000/feed"}"#, &[]).unwrap_err();
        assert!(e.problem.contains("1 ..= 65535"), "{e}");
        let s = parse(r#"{"mqttUrl":"mqtt://[::1]:1884"}"#, &[]).unwrap();
        assert_eq!(mqtt(&s).endpoint.port, 1884);
    }

    #[test]
    fn the_data_source_may_lower_its_own_limits() {
        let s = parse(r#"{"memoryLimitMb":32,"websocketMaxConnections":"4"}"#, &[]).unwrap();
        assert_eq!(s.memory_limit_bytes, Some(32 << 20));
        assert_eq!(s.websocket_max_connections, Some(4));
        for json in [
            r#"{"memoryLimitMb":0}"#,
            r#"{"websocketMaxConnections":-1}"#,
            r#"{"memoryLimitMb":"lots"}"#,
        ] {
            let e = parse(json, &[]).unwrap_err();
            assert!(e.problem.contains("an integer in 1 ..="), "{json}: {e}");
        }
    }

    #[test]
    fn a_query_cannot_repeat_the_base_urls_parameters() {
        let s = parse(r#"{"websocketUrl":"ws://h/base?token=abc&Tenant=1"}"#, &[]).unwrap();
        let ws = websocket(&s);
        for path in ["/x?token=mine", "/x?tenant=2", "/x?a=1&TOKEN"] {
            let e = ws.url_for(path).unwrap_err();
            assert!(
                e.problem.contains("set by the data source's URL"),
                "{path}: {e}"
            );
        }
        assert_eq!(
            ws.url_for("/x?b=2").unwrap(),
            "ws://h:80/base/x?token=abc&Tenant=1&b=2"
        );
    }

    #[test]
    fn record_lists_are_checked_item_by_item_and_bounded() {
        let s = parse(
            r#"{"mqttUrl":"mqtt://x","mqttRecord":"plant/#\n a/+/b ,c","retentionSeconds":600}"#,
            &[],
        )
        .unwrap();
        let mqtt = s.section::<crate::source::mqtt::MqttSettings>().unwrap();
        assert_eq!(mqtt.record, ["plant/#", "a/+/b", "c"]);
        assert_eq!(s.retention_seconds, Some(600));
        let e = parse(r#"{"mqttUrl":"mqtt://x","mqttRecord":"ok\na/#/b"}"#, &[]).unwrap_err();
        assert_eq!(e.field, "mqttRecord");
        assert!(e.problem.starts_with("\"a/#/b\": "), "{}", e.problem);
        let many = (0..=limits::MAX_RECORDED)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>();
        let json = serde_json::json!({"mqttUrl": "mqtt://x", "mqttRecord": many.join("\n")});
        let e = parse(&json.to_string(), &[]).unwrap_err();
        assert!(e.problem.contains("at most 32"), "{}", e.problem);
    }

    #[test]
    fn an_allow_list_holds_each_source_to_its_own_patterns() {
        let s = parse(
            r#"{"mqttUrl":"mqtt://x","mqttAllow":"plant/#, lab/+/t","websocketUrl":"ws://h"}"#,
            &[],
        )
        .unwrap();
        let mqtt =
            |topic: &str| crate::source::mqtt::spec(topic, &Default::default(), 100, 10, false);
        assert!(s.allows(&mqtt("plant/a/b")).is_ok());
        assert!(s.allows(&mqtt("lab/x/t")).is_ok());
        let e = s.allows(&mqtt("lab/#")).unwrap_err();
        assert!(
            matches!(e, crate::PluginError::NotAllowed { field: "topic", setting: "mqttAllow", ref value } if value == "lab/#"),
            "{e:?}"
        );
        // No websocketAllow: the WebSocket source may read anything; signals always.
        let ws = crate::source::websocket::spec("/any", &Default::default(), 100, 10, false);
        assert!(s.allows(&ws).is_ok());
        assert!(s.allows(&crate::query::StreamSpec::default()).is_ok());
        // Redis: one list for stream keys and channels; a channel pattern needs a `*`.
        let s = parse(r#"{"redisUrl":"redis://h","redisAllow":"sensor:*"}"#, &[]).unwrap();
        let redis = |json: &str| crate::query::StreamSpec::from_json_bytes(json.as_bytes());
        assert!(s
            .allows(&redis(r#"{"source":"redis","key":"sensor:1"}"#).unwrap())
            .is_ok());
        assert!(s
            .allows(&redis(r#"{"source":"redis","channel":"sensor:?"}"#).unwrap())
            .is_ok());
        let e = s
            .allows(&redis(r#"{"source":"redis","channel":"*"}"#).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("`channel`"), "{e}");
        let e = parse(r#"{"mqttAllow":"ok, a/#/b"}"#, &[]).unwrap_err();
        assert_eq!(e.field, "mqttAllow");
        assert!(e.problem.starts_with("\"a/#/b\": "), "{}", e.problem);
    }

    #[test]
    fn a_client_certificate_needs_both_halves_in_pem() {
        let on = r#"{"tlsAuth":true}"#;
        let e = parse(on, &[("tlsClientKey", "k")]).unwrap_err();
        assert_eq!(e.field, "tlsClientCert");
        let e = parse(on, &[("tlsClientCert", "not pem"), ("tlsClientKey", "k")]).unwrap_err();
        assert_eq!(e.field, "tlsClientCert");
        assert!(!e.to_string().contains("not pem"));
    }

    #[test]
    fn a_password_needs_a_user_name() {
        let e = parse(r#"{"mqttUrl":"mqtt://x"}"#, &[("mqttPassword", "pw")]).unwrap_err();
        assert_eq!(e.field, "mqttUsername");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = parse(
            r#"{"mqttUrl":"mqtt://x","mqttUsername":"u","websocketUrl":"wss://h/base",
                "httpHeaderName1":"Authorization","tlsAuthWithCACert":true}"#,
            &[
                ("mqttPassword", "hunter2"),
                ("httpHeaderValue1", "Bearer s3cr3t"),
                (
                    "tlsCACert",
                    "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----",
                ),
            ],
        )
        .unwrap();
        let debug = format!("{s:?}");
        for secret in ["hunter2", "s3cr3t", "MIIBAA"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(
            s.redact("auth failed for hunter2 with Bearer s3cr3t"),
            "auth failed for *** with ***"
        );
    }

    #[test]
    fn header_values_with_line_breaks_are_refused_without_quoting_them() {
        let e = parse(
            r#"{"websocketUrl":"ws://h","httpHeaderName2":"X-Token"}"#,
            &[("httpHeaderValue2", "a\r\nInjected: yes")],
        )
        .unwrap_err();
        assert_eq!(e.field, "httpHeaderValue2");
        assert!(!e.to_string().contains("Injected"));
        let e = parse(r#"{"websocketUrl":"ws://h","httpHeaderName1":"Host"}"#, &[]).unwrap_err();
        assert_eq!(e.field, "httpHeaderName1");
    }

    #[test]
    fn websocket_paths_append_to_the_base_url_on_the_same_host() {
        let s = parse(
            r#"{"websocketUrl":"wss://feed.example:9443/v2/?token=abc"}"#,
            &[],
        )
        .unwrap();
        let ws = websocket(&s);
        assert_eq!(
            ws.url_for("/prices").unwrap(),
            "wss://feed.example:9443/v2/prices?token=abc"
        );
        assert_eq!(
            ws.url_for("/prices?symbol=BTC").unwrap(),
            "wss://feed.example:9443/v2/prices?token=abc&symbol=BTC"
        );
        assert_eq!(ws.base_url(), "wss://feed.example:9443/v2?token=abc");
        let s = parse(r#"{"websocketUrl":"ws://h"}"#, &[]).unwrap();
        let ws = websocket(&s);
        assert_eq!(ws.url_for("/a").unwrap(), "ws://h:80/a");
        assert_eq!(ws.base_url(), "ws://h:80/");
    }

    #[test]
    fn the_ca_certificate_is_required_when_asked_for() {
        let e = parse(r#"{"tlsAuthWithCACert":true}"#, &[]).unwrap_err();
        assert_eq!(e.field, "tlsCACert");
        let e = parse(r#"{"tlsAuthWithCACert":true}"#, &[("tlsCACert", "garbage")]).unwrap_err();
        assert_eq!(e.field, "tlsCACert");
        let e = parse(r#"{"tlsSkipVerify":"yes"}"#, &[]).unwrap_err();
        assert_eq!(e.field, "tlsSkipVerify");
    }
}
