//! The whole command line of `cargo xtask`, declared in one place.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Usage text printed by `cargo xtask help` and on a bad command line.
pub(crate) const USAGE: &str = "\
cargo xtask <command> [options]

Commands:
  ci                 every check CI runs: fmt, clippy, tests, the frontend's (npm ci when
                     needed; typecheck, lint, jest, build, Chromium test of the built
                     module.js), oracle fixtures, schemas, and every fuzz target for 15 s
  dist [--target TRIPLE]
                     the frontend's build (npm; module.js, module.js.map), a release build
                     of the backend and the plugin folder dist/ (plugin.json,
                     gpx_ringstream_<goos>_<goarch>, module.js, img/, docs); --target builds
                     for another Rust target triple (e.g. aarch64-unknown-linux-gnu)
  package            zip dist/ as seed-ringstream-datasource-<version>.<goos>_<goarch>.zip
                     (one folder named after the plugin id) with .sha1 and .md5 beside it
  validate [PATH]    offline checks of a plugin zip or folder (default: the package of dist/)
  install --plugins-dir DIR
                     copy dist/ into a Grafana plugins folder as DIR/seed-ringstream-datasource
  demo [--seconds N] [--query JSON]
                     see it stream: build the plugin and the harness, start the plugin as
                     Grafana does and show the live panel view in the terminal (the
                     tutorial's stream by default) until Ctrl-C, or for N seconds
  schema [--check]   write crates/plugin/schema/{query,settings}.schema.json and the
                     docs' parameter and settings tables from the plugin's
                     declarations; --check compares instead (CI)
  new-source NAME    write the skeleton of a new source: crates/plugin/src/source/NAME.rs
                     (one parameter, its test) and its line in the registry
  fixtures [--check] regenerate the @grafana/data conformance fixtures (needs node + npm);
                     --check compares instead of writing
  fuzz [--seconds N] [--target NAME] [--update-corpus]
                     build the fuzz targets (fuzz/, cargo-fuzz + libFuzzer; cargo-fuzz is
                     installed when missing) and run each, or only NAME, for N seconds
                     (default 300) from the seeds in fuzz/corpus/; prints executions per
                     target and fails on a crash, whose input stays in fuzz/artifacts/.
                     Targets: query_json channel_path payload settings dataframe_json
                     arrow_frame. --update-corpus merges the inputs that add coverage
                     into fuzz/corpus/ (otherwise it is never written)
  help               this text
";

/// A parsed `cargo xtask` command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Ci,
    Dist { target: Option<String> },
    Package,
    Validate { path: Option<PathBuf> },
    Install { plugins_dir: PathBuf },
    Demo(crate::demo::DemoArgs),
    Fixtures { check: bool },
    Schema { check: bool },
    NewSource { name: String },
    Fuzz(crate::fuzz::FuzzArgs),
    Help,
}

impl Command {
    /// Parses the arguments after `cargo xtask`.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut args = args.into_iter();
        let Some(command) = args.next() else {
            return Ok(Command::Help);
        };
        let rest: Vec<String> = args.collect();
        let mut flags = Flags::new(&command, rest);
        let parsed = match command.as_str() {
            "ci" => Command::Ci,
            "dist" => Command::Dist {
                target: flags.value("--target")?,
            },
            "package" => Command::Package,
            "validate" => Command::Validate {
                path: flags.positional().map(PathBuf::from),
            },
            "install" => Command::Install {
                plugins_dir: flags
                    .value("--plugins-dir")?
                    .map(PathBuf::from)
                    .with_context(|| {
                        format!("`cargo xtask install` needs `--plugins-dir DIR`\n\n{USAGE}")
                    })?,
            },
            "demo" => Command::Demo(crate::demo::DemoArgs {
                seconds: flags.value("--seconds")?,
                query: flags.value("--query")?,
            }),
            "fixtures" => Command::Fixtures {
                check: flags.switch("--check"),
            },
            "schema" => Command::Schema {
                check: flags.switch("--check"),
            },
            "new-source" => Command::NewSource {
                name: flags
                    .positional()
                    .with_context(|| format!("`cargo xtask new-source` needs a NAME\n\n{USAGE}"))?,
            },
            "fuzz" => Command::Fuzz(crate::fuzz::FuzzArgs {
                seconds: match flags.value("--seconds")? {
                    Some(n) => seconds(&n)?,
                    None => crate::fuzz::DEFAULT_SECONDS,
                },
                target: flags.value("--target")?.map(fuzz_target).transpose()?,
                update_corpus: flags.switch("--update-corpus"),
            }),
            "help" | "--help" | "-h" => Command::Help,
            other => bail!("unknown command `{other}`\n\n{USAGE}"),
        };
        flags.finish()?;
        Ok(parsed)
    }
}

/// `--seconds N` of `fuzz`: a whole number of seconds, at least 1.
fn seconds(n: &str) -> Result<u64> {
    match n.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`--seconds` takes a whole number of seconds, at least 1; got `{n}`"),
    }
}

/// `--target NAME` of `fuzz`: one of the fuzz targets.
fn fuzz_target(name: String) -> Result<String> {
    if crate::fuzz::TARGETS.contains(&name.as_str()) {
        return Ok(name);
    }
    bail!(
        "unknown fuzz target `{name}`; the targets are {}",
        crate::fuzz::TARGETS.join(", ")
    )
}

/// The options of one command; whatever is left unclaimed at the end is an error.
struct Flags<'a> {
    command: &'a str,
    rest: Vec<String>,
}

impl<'a> Flags<'a> {
    fn new(command: &'a str, rest: Vec<String>) -> Self {
        Self { command, rest }
    }

    fn switch(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    fn value(&mut self, name: &str) -> Result<Option<String>> {
        let Some(at) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        let value = self
            .rest
            .get(at + 1)
            .cloned()
            .with_context(|| format!("`{name}` needs a value"))?;
        self.rest.drain(at..=at + 1);
        Ok(Some(value))
    }

    /// The first argument that is not a flag, if any.
    fn positional(&mut self) -> Option<String> {
        let at = self.rest.iter().position(|a| !a.starts_with('-'))?;
        Some(self.rest.remove(at))
    }

    fn finish(self) -> Result<()> {
        if let Some(extra) = self.rest.first() {
            bail!(
                "`cargo xtask {}` does not take `{extra}`\n\n{USAGE}",
                self.command
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command> {
        Command::parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(parse("ci").unwrap(), Command::Ci);
        assert_eq!(
            parse("fixtures --check").unwrap(),
            Command::Fixtures { check: true }
        );
        assert_eq!(
            parse("schema --check").unwrap(),
            Command::Schema { check: true }
        );
        assert_eq!(
            parse("new-source nats").unwrap(),
            Command::NewSource {
                name: "nats".into()
            }
        );
        assert!(parse("new-source").is_err());
        assert_eq!(parse("schema").unwrap(), Command::Schema { check: false });
        assert_eq!(parse("").unwrap(), Command::Help);
    }

    #[test]
    fn parses_the_dist_commands() {
        assert_eq!(parse("dist").unwrap(), Command::Dist { target: None });
        assert_eq!(
            parse("dist --target aarch64-unknown-linux-gnu").unwrap(),
            Command::Dist {
                target: Some("aarch64-unknown-linux-gnu".into())
            }
        );
        assert_eq!(parse("package").unwrap(), Command::Package);
        assert_eq!(parse("validate").unwrap(), Command::Validate { path: None });
        assert_eq!(
            parse("validate some.zip").unwrap(),
            Command::Validate {
                path: Some("some.zip".into())
            }
        );
        assert_eq!(
            parse("install --plugins-dir /var/lib/grafana/plugins").unwrap(),
            Command::Install {
                plugins_dir: "/var/lib/grafana/plugins".into()
            }
        );
    }

    #[test]
    fn rejects_bad_dist_command_lines() {
        let err = |line: &str| parse(line).unwrap_err().to_string();
        assert!(err("dist --target").contains("`--target` needs a value"));
        assert!(err("dist x86_64").contains("does not take `x86_64`"));
        assert!(err("package out.zip").contains("does not take `out.zip`"));
        assert!(err("validate a.zip b.zip").contains("does not take `b.zip`"));
        assert!(err("validate --strict").contains("does not take `--strict`"));
        assert!(err("install").contains("needs `--plugins-dir DIR`"));
        assert!(err("install --plugins-dir").contains("`--plugins-dir` needs a value"));
    }

    #[test]
    fn parses_the_demo_command() {
        use crate::demo::DemoArgs;
        assert_eq!(parse("demo").unwrap(), Command::Demo(DemoArgs::default()));
        assert_eq!(
            parse("demo --seconds 5 --query {}").unwrap(),
            Command::Demo(DemoArgs {
                seconds: Some("5".into()),
                query: Some("{}".into()),
            })
        );
        assert!(parse("demo --seconds")
            .unwrap_err()
            .to_string()
            .contains("`--seconds` needs a value"));
        assert!(parse("demo --fast")
            .unwrap_err()
            .to_string()
            .contains("does not take `--fast`"));
    }

    #[test]
    fn parses_the_fuzz_command() {
        use crate::fuzz::{FuzzArgs, DEFAULT_SECONDS};
        assert_eq!(parse("fuzz").unwrap(), Command::Fuzz(FuzzArgs::default()));
        assert_eq!(FuzzArgs::default().seconds, DEFAULT_SECONDS);
        assert_eq!(
            parse("fuzz --seconds 60 --target payload").unwrap(),
            Command::Fuzz(FuzzArgs {
                seconds: 60,
                target: Some("payload".into()),
                update_corpus: false,
            })
        );
        assert_eq!(
            parse("fuzz --update-corpus --target arrow_frame").unwrap(),
            Command::Fuzz(FuzzArgs {
                target: Some("arrow_frame".into()),
                update_corpus: true,
                ..FuzzArgs::default()
            })
        );
    }

    #[test]
    fn rejects_bad_fuzz_command_lines() {
        let err = |line: &str| parse(line).unwrap_err().to_string();
        assert!(err("fuzz --seconds").contains("`--seconds` needs a value"));
        for bad in ["0", "-5", "1.5", "ten"] {
            assert!(
                err(&format!("fuzz --seconds {bad}")).contains("a whole number of seconds"),
                "{bad}"
            );
        }
        assert!(err("fuzz --target").contains("`--target` needs a value"));
        let unknown = err("fuzz --target parser");
        assert!(
            unknown.contains("unknown fuzz target `parser`"),
            "{unknown}"
        );
        assert!(unknown.contains("query_json, channel_path"), "{unknown}");
        assert!(err("fuzz --forever").contains("does not take `--forever`"));
        assert!(err("fuzz payload").contains("does not take `payload`"));
    }

    #[test]
    fn the_usage_lists_every_fuzz_target() {
        for target in crate::fuzz::TARGETS {
            assert!(USAGE.contains(target), "{target}");
        }
    }

    #[test]
    fn rejects_unknown_commands_and_flags() {
        assert!(parse("deploy")
            .unwrap_err()
            .to_string()
            .contains("unknown command"));
        assert!(parse("ci --fast")
            .unwrap_err()
            .to_string()
            .contains("does not take `--fast`"));
    }
}
