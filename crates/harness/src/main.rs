//! `ringstream-harness`: conformance runners and `watch`, the live panel view of a plugin.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ringstream_harness::conformance;

const USAGE: &str = "\
ringstream-harness <command>

Commands:
  conformance ring   read a RingFrame op script (JSON) on stdin, print the frame (JSON)
  conformance live   read DataFrameJSON messages and stream options (JSON) on stdin, print
                     the frame a StreamingDataFrame would hold (JSON)
  watch [--plugin PATH] [--query JSON] [--settings JSON] [--seconds N] [--rows N] [--plain]
                     start the plugin as Grafana does and show the live panel view as rows
                     arrive: a sparkline and the newest rows (plain lines with --plain or
                     when stdout is not a terminal). --plugin defaults to gpx_ringstream
                     beside this executable, --query to {} (the tutorial's random walk),
                     --settings to {} (jsonData, or {\"jsonData\":..,\"secureJsonData\":..});
                     runs until Ctrl-C unless --seconds is given
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["conformance", "ring"] => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the script from stdin")?;
            let frame = conformance::ring::run(&input)?;
            println!("{frame}");
            Ok(())
        }
        ["conformance", "live"] => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the messages from stdin")?;
            let frame = conformance::live::run(&input)?;
            println!("{frame}");
            Ok(())
        }
        ["watch", rest @ ..] => watch(rest),
        ["help" | "--help" | "-h"] | [] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{USAGE}", args.join(" ")),
    }
}

fn watch(args: &[&str]) -> Result<()> {
    let mut options = ringstream_harness::watch::WatchOptions::new(default_plugin()?);
    options.tty = std::io::stdout().is_terminal();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .with_context(|| format!("`{flag}` needs a value\n\n{USAGE}"))
        };
        match *flag {
            "--plugin" => options.plugin = PathBuf::from(value()?),
            "--query" => {
                options.query = serde_json::from_str(value()?).context("--query is not JSON")?
            }
            "--settings" => {
                options.settings =
                    Some(serde_json::from_str(value()?).context("--settings is not JSON")?)
            }
            "--seconds" => {
                let s: f64 = value()?.parse().context("--seconds needs a number")?;
                if !(s.is_finite() && s >= 0.0) {
                    bail!("--seconds needs a number of seconds >= 0");
                }
                options.seconds = Some(s);
            }
            "--rows" => options.rows = value()?.parse().context("--rows needs a count")?,
            "--plain" => options.tty = false,
            other => bail!("`watch` does not take `{other}`\n\n{USAGE}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut stdout = std::io::stdout();
    let summary = runtime
        .block_on(ringstream_harness::watch::run(&options, &mut stdout))
        .with_context(|| format!("watching {}", options.plugin.display()))?;
    eprintln!(
        "watched {} packet(s), {} new row(s); the panel shows {} rows",
        summary.packets, summary.rows_received, summary.rows_shown
    );
    Ok(())
}

/// `gpx_ringstream` beside this executable (both land in the same cargo target folder).
fn default_plugin() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating ringstream-harness")?;
    Ok(exe.with_file_name(format!("gpx_ringstream{}", std::env::consts::EXE_SUFFIX)))
}
