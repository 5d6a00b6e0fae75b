//! The whole command line of `cargo xtask`, declared in one place.

use anyhow::{bail, Result};

/// Usage text printed by `cargo xtask help` and on a bad command line.
pub(crate) const USAGE: &str = "\
cargo xtask <command> [options]

Commands:
  ci                 every check CI runs: fmt, clippy, tests, oracle fixtures
  fixtures [--check] regenerate the @grafana/data conformance fixtures (needs node + npm);
                     --check compares instead of writing
  help               this text
";

/// A parsed `cargo xtask` command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Ci,
    Fixtures { check: bool },
    Help,
}

impl Command {
    /// Parses the arguments after `cargo xtask`.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut args = args.into_iter();
        let Some(command) = args.next() else {
            return Ok(Command::Help);
        };
        let mut rest: Vec<String> = args.collect();
        let check = rest.iter().any(|a| a == "--check");
        rest.retain(|a| a != "--check");
        let parsed = match command.as_str() {
            "ci" => Command::Ci,
            "fixtures" => Command::Fixtures { check },
            "help" | "--help" | "-h" => Command::Help,
            other => bail!("unknown command `{other}`\n\n{USAGE}"),
        };
        if let Some(extra) = rest.first() {
            bail!("`cargo xtask {command}` does not take `{extra}`\n\n{USAGE}");
        }
        Ok(parsed)
    }
}
