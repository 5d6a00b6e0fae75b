//! `ringstream-harness watch`: a plugin's live panel view in a terminal.
//!
//! It starts the plugin as Grafana does ([`PluginHost`]), runs one query through a
//! [`LivePanel`] and redraws what the panel shows as packets arrive: a sparkline of the
//! first numeric field and a table of the newest rows. When the output is not a terminal
//! (a pipe, CI) it prints one plain line per new row instead, so it can be read and tested.
//! It stops after [`WatchOptions::seconds`], or on Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::host::{DataSourceSettings, HostOptions, LivePanel, PluginHost, Query};
use crate::live::LiveValue;
use crate::panel::{buffer_options, cell_text, Panel};
use crate::HarnessError;

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The plugin executable.
    pub plugin: PathBuf,
    /// The query JSON (the default `{}` is the tutorial's stream: a random walk every 100 ms).
    pub query: Value,
    /// Data source settings: an object with `jsonData` and/or `secureJsonData`, or just the
    /// `jsonData` object.
    pub settings: Option<Value>,
    /// Stop after this long; `None` runs until Ctrl-C.
    pub seconds: Option<f64>,
    /// Rows of the table (terminal view).
    pub rows: usize,
    /// Redraw a terminal view (`true`) or print plain lines.
    pub tty: bool,
    /// The panel's `maxDataPoints`.
    pub max_data_points: usize,
}

impl WatchOptions {
    /// Defaults for `plugin`: the tutorial query, until Ctrl-C, 10 rows, 1000 points.
    pub fn new(plugin: PathBuf) -> Self {
        Self {
            plugin,
            query: Value::Object(serde_json::Map::new()),
            settings: None,
            seconds: None,
            rows: 10,
            tty: false,
            max_data_points: 1000,
        }
    }
}

/// What a watch saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSummary {
    /// RunStream packets received.
    pub packets: usize,
    /// Rows the packets carried.
    pub rows_received: usize,
    /// Rows the panel shows at the end.
    pub rows_shown: usize,
}

/// Splits `--settings` JSON into data source settings.
///
/// # Errors
/// [`HarnessError::Script`] when it is not an object, or `secureJsonData` is not an object
/// of strings.
pub fn settings_from_json(value: &Value) -> Result<DataSourceSettings, HarnessError> {
    let Value::Object(obj) = value else {
        return Err(HarnessError::Script(
            "--settings must be a JSON object (jsonData, or {\"jsonData\": ..., \"secureJsonData\": ...})".into(),
        ));
    };
    let mut settings = DataSourceSettings::default();
    if obj.contains_key("jsonData") || obj.contains_key("secureJsonData") {
        if let Some(json) = obj.get("jsonData") {
            settings.json_data = json.clone();
        }
        if let Some(secure) = obj.get("secureJsonData") {
            settings.secure = serde_json::from_value(secure.clone()).map_err(|e| {
                HarnessError::Script(format!("secureJsonData must map names to strings: {e}"))
            })?;
        }
    } else {
        settings.json_data = value.clone();
    }
    Ok(settings)
}

/// Runs the watch, writing to `out`.
///
/// # Errors
/// Starting the plugin, the query or the stream failing, or `out` failing.
pub async fn run(
    options: &WatchOptions,
    out: &mut (dyn Write + Send),
) -> Result<WatchSummary, HarnessError> {
    let mut host = PluginHost::start_with(
        &options.plugin,
        HostOptions {
            // The plugin logs to stderr, which the host keeps; RUST_LOG still picks the level.
            env: std::env::var("RUST_LOG")
                .map(|v| vec![("RUST_LOG".to_owned(), v)])
                .unwrap_or_default(),
            ..HostOptions::default()
        },
    )
    .await?;
    if let Some(settings) = &options.settings {
        host.set_settings(settings_from_json(settings)?);
    }
    let query = Query::new("A", options.query.clone());
    let buffer = buffer_options(options.max_data_points, None, false);
    let mut live = LivePanel::open(&host, &query, buffer).await?;
    let mut view = View::new(options, live.path().to_owned());
    view.start(out, live.panel()).map_err(io)?;

    let deadline = options
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.clamp(0.0, 1e9)));
    let mut summary = WatchSummary {
        packets: 0,
        rows_received: 0,
        rows_shown: live.panel().len(),
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        if left.is_zero() {
            break;
        }
        let packet = tokio::select! {
            _ = &mut ctrl_c => break,
            packet = live.next_packet(left) => packet,
        };
        match packet {
            Ok(Some(packet)) => {
                summary.packets += 1;
                summary.rows_received += packet.rows();
                view.packet(out, live.panel(), packet.rows()).map_err(io)?;
            }
            Ok(None) => {
                view.end(out).map_err(io)?;
                return Err(HarnessError::Protocol("the plugin ended the stream".into()));
            }
            Err(HarnessError::Timeout(_)) if deadline.is_some() => break,
            Err(e) => {
                view.end(out).map_err(io)?;
                return Err(e);
            }
        }
    }
    summary.rows_shown = live.panel().len();
    view.end(out).map_err(io)?;
    host.kill().await?;
    Ok(summary)
}

fn io(e: std::io::Error) -> HarnessError {
    HarnessError::Script(format!("writing the view: {e}"))
}

/// The output: a redrawn terminal view or plain lines.
struct View {
    tty: bool,
    rows: usize,
    width: usize,
    path: String,
    packets: usize,
}

impl View {
    fn new(options: &WatchOptions, path: String) -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(80)
            .clamp(20, 400);
        Self {
            tty: options.tty,
            rows: options.rows.max(1),
            width,
            path,
            packets: 0,
        }
    }

    fn start(&mut self, out: &mut dyn Write, panel: &Panel) -> std::io::Result<()> {
        if self.tty {
            write!(out, "\x1b[?25l\x1b[2J")?; // hide the cursor, clear the screen
            return self.draw(out, panel);
        }
        writeln!(
            out,
            "watching {}: {} rows of history, newest {}:",
            self.path,
            panel.len(),
            self.rows.min(panel.len())
        )?;
        for line in row_lines(panel, self.rows) {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    fn packet(&mut self, out: &mut dyn Write, panel: &Panel, rows: usize) -> std::io::Result<()> {
        self.packets += 1;
        if self.tty {
            return self.draw(out, panel);
        }
        for line in row_lines(panel, rows) {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    fn end(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.tty {
            write!(out, "\x1b[?25h")?; // show the cursor again
        }
        out.flush()
    }

    fn draw(&mut self, out: &mut dyn Write, panel: &Panel) -> std::io::Result<()> {
        let mut screen = String::from("\x1b[H");
        let mut line = |s: &str| {
            screen.push_str(s);
            screen.push_str("\x1b[K\n"); // clear the rest of the line
        };
        line(&format!("Ringstream · ds/…/{}", self.path));
        line(&format!(
            "{} rows shown · {} packets · Ctrl-C to stop",
            panel.len(),
            self.packets
        ));
        line("");
        if let Some((name, values)) = first_number_field(panel) {
            let width = self.width.saturating_sub(2);
            let tail = &values[values.len().saturating_sub(width)..];
            line(&format!("{name}: {}", sparkline(tail)));
            let (lo, hi) = range(tail);
            line(&format!(
                "  last {} · min {} · max {}",
                tail.last().map_or("-".into(), |x| crate::fmt::number(*x)),
                crate::fmt::number(lo),
                crate::fmt::number(hi)
            ));
            line("");
        }
        for row in panel.to_table_tail(self.rows).lines() {
            line(row);
        }
        screen.push_str("\x1b[J"); // clear below
        out.write_all(screen.as_bytes())?;
        out.flush()
    }
}

/// The newest `n` rows as plain lines: `time  name=value  ...`.
fn row_lines(panel: &Panel, n: usize) -> Vec<String> {
    let fields = panel.frame().fields();
    let len = panel.len();
    (len.saturating_sub(n)..len)
        .map(|i| {
            fields
                .iter()
                .map(|f| {
                    let v = f.values.get(i).unwrap_or(&LiveValue::Undefined);
                    let text = cell_text(v, &f.field_type);
                    if f.field_type == crate::wire::FieldType::Time {
                        text
                    } else {
                        format!("{}={text}", f.name)
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect()
}

fn first_number_field(panel: &Panel) -> Option<(String, Vec<f64>)> {
    let field = panel
        .frame()
        .fields()
        .iter()
        .find(|f| f.field_type == crate::wire::FieldType::Number)?;
    let values = panel
        .numbers_present(&field.name)
        .into_iter()
        .filter(|x| x.is_finite())
        .collect();
    Some((field.name.clone(), values))
}

fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

/// Values as block characters from `▁` (min) to `█` (max).
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = range(values);
    values
        .iter()
        .map(|x| {
            if hi > lo {
                let k = ((x - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[k.min(7)]
            } else {
                BARS[3]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_sparklines() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 7.0]), "▁▂▃█");
        assert_eq!(sparkline(&[5.0, 5.0]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn reads_settings_both_ways() {
        let s = settings_from_json(&serde_json::json!({"host": "x"})).unwrap();
        assert_eq!(s.json_data["host"], "x");
        let s = settings_from_json(&serde_json::json!({
            "jsonData": {"host": "y"}, "secureJsonData": {"password": "p"}
        }))
        .unwrap();
        assert_eq!(s.json_data["host"], "y");
        assert_eq!(s.secure["password"], "p");
        assert!(settings_from_json(&serde_json::json!([1])).is_err());
        assert!(settings_from_json(&serde_json::json!({"secureJsonData": {"p": 1}})).is_err());
    }
}
