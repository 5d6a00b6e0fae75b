//! `cargo xtask fuzz [--seconds N] [--target NAME] [--update-corpus]`: coverage-guided
//! fuzzing (cargo-fuzz + libFuzzer) of the code that reads untrusted input: queries, channel
//! paths, message payloads, data source settings, and the harness's DataFrameJSON and Arrow
//! decoders. The targets live in `fuzz/` (a crate of its own, outside the workspace); what
//! each checks is in docs/RELIABILITY.md (Fuzzing).
//!
//! One `cargo fuzz build` makes every target (a separate target dir, `target/fuzz`, since
//! the instrumentation flags would otherwise rebuild the workspace's own artifacts), then
//! each target's binary runs for its time. libFuzzer reads the committed seeds
//! (`fuzz/corpus/<target>`) but writes what it finds only into a working corpus: the first
//! corpus folder it is given is the one it adds to, so the seeds are passed second and never
//! change unless `--update-corpus` merges the finds into them (an explicit, reviewed
//! fixture update). A crash fails the command and leaves its input under
//! `fuzz/artifacts/<target>/`. Inputs of known, not yet fixed bugs are kept under
//! `fuzz/regressions/<target>/` and replayed before fuzzing (their target skips them until
//! the fix lands, so they must pass).
//!
//! Sanitizer: none. The crates under test have no `unsafe` code, so AddressSanitizer mostly
//! re-checks what the compiler already guarantees, while its build needs nightly flags
//! (`RUSTC_BOOTSTRAP=1` on this stable toolchain), takes 1.7× as long and runs 4-5× fewer
//! inputs (docs/RELIABILITY.md (Fuzzing)); without it the build needs no unstable flag.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, project_root, run_cmd};

/// Every fuzz target (`fuzz/fuzz_targets/<name>.rs`).
pub(crate) const TARGETS: [&str; 6] = [
    "query_json",
    "channel_path",
    "payload",
    "settings",
    "dataframe_json",
    "arrow_frame",
];

/// Seconds per target of `cargo xtask fuzz` when `--seconds` is not given.
pub(crate) const DEFAULT_SECONDS: u64 = 300;

/// Seconds per target in `cargo xtask ci`: enough to replay the seeds and catch a shallow
/// regression, little next to the rest of CI.
const CI_SECONDS: u64 = 15;

/// libFuzzer's limits: a run over this resident size is an out-of-memory failure (the
/// machines have 24 GiB; no input of a few KB should need 2), one input running longer than
/// `TIMEOUT_SECS` is a hang.
const RSS_LIMIT_MB: u32 = 2048;
const TIMEOUT_SECS: u32 = 10;

/// What `fuzz` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FuzzArgs {
    /// `--seconds N`: per target.
    pub(crate) seconds: u64,
    /// `--target NAME`: only this one (one of [`TARGETS`]).
    pub(crate) target: Option<String>,
    /// `--update-corpus`: merge what the fuzzer found into `fuzz/corpus`.
    pub(crate) update_corpus: bool,
}

impl Default for FuzzArgs {
    fn default() -> Self {
        Self {
            seconds: DEFAULT_SECONDS,
            target: None,
            update_corpus: false,
        }
    }
}

pub(crate) fn run(args: FuzzArgs) -> Result<()> {
    let targets: Vec<&str> = match &args.target {
        Some(name) => vec![name.as_str()],
        None => TARGETS.to_vec(),
    };
    let fuzz = Fuzz::prepare(args.target.as_deref())?;
    // A persistent working corpus: repeated runs go on from what earlier ones found.
    let work = fuzz.dir.join("corpus-work");
    fuzz.run_all(&targets, args.seconds, &work)?;
    if args.update_corpus {
        for target in &targets {
            fuzz.merge_into_seeds(target, &work.join(target))?;
        }
    }
    Ok(())
}

/// `cargo xtask ci`'s step: every target for [`CI_SECONDS`] from the committed seeds alone
/// (a fresh working corpus, so the result does not depend on earlier local runs).
pub(crate) fn run_ci() -> Result<()> {
    run_cmd(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))?;
    let fuzz = Fuzz::prepare(None)?;
    let work = fuzz.target_dir.join("ci-corpus");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    fuzz.run_all(&TARGETS, CI_SECONDS, &work)
}

/// The fuzz crate, built.
struct Fuzz {
    /// `fuzz/`.
    dir: PathBuf,
    /// `target/fuzz`: cargo's target dir for the instrumented build, and the run logs.
    target_dir: PathBuf,
    /// Where the target binaries are.
    bin_dir: PathBuf,
}

/// One target's run, as libFuzzer reported it.
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    /// The input libFuzzer saved when the run failed (crash, out-of-memory, timeout).
    failure: Option<Failure>,
}

struct Failure {
    /// `crash`, `oom`, `timeout`, `leak`, or the exit status when no input was saved.
    kind: String,
    input: Option<PathBuf>,
    log: PathBuf,
}

impl Fuzz {
    /// Installs cargo-fuzz if needed and builds `only` (or every target) in one build.
    fn prepare(only: Option<&str>) -> Result<Self> {
        let version = crate::setup::ensure_cargo_fuzz()?;
        let root = project_root();
        let target_dir = root.join("target").join("fuzz");
        let mut build = cargo();
        build.args(["fuzz", "build", "--sanitizer", "none", "--target-dir"]);
        build.arg(&target_dir);
        build.args(only);
        without_cargo_run_env(&mut build);
        eprintln!("xtask fuzz: {version}");
        run_cmd(&mut build)?;
        let bin_dir = target_dir.join(host_triple()?).join("release");
        Ok(Self {
            dir: root.join("fuzz"),
            target_dir,
            bin_dir,
        })
    }

    /// Replays the regressions, then fuzzes each target for `seconds`, prints a table and
    /// fails if any run failed.
    fn run_all(&self, targets: &[&str], seconds: u64, work: &Path) -> Result<()> {
        for target in targets {
            self.replay_regressions(target)?;
        }
        let mut outcomes = Vec::new();
        for target in targets {
            outcomes.push(self.fuzz_one(target, seconds, &work.join(target))?);
        }
        print_table(&outcomes);
        let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
        if failures.is_empty() {
            return Ok(());
        }
        for outcome in &failures {
            let failure = outcome.failure.as_ref().expect("filtered on failures");
            let input = failure
                .input
                .as_ref()
                .map_or("(no input saved)".into(), |p| p.display().to_string());
            eprintln!(
                "xtask fuzz: {} failed ({}): input {input}\n  log: {}\n  reproduce: {} {input}",
                outcome.target,
                failure.kind,
                failure.log.display(),
                self.bin(&outcome.target).display(),
            );
        }
        bail!(
            "fuzzing failed: {}",
            failures
                .iter()
                .map(|o| o.target.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn bin(&self, target: &str) -> PathBuf {
        self.bin_dir
            .join(format!("{target}{}", std::env::consts::EXE_SUFFIX))
    }

    /// libFuzzer's command line with this project's limits.
    fn libfuzzer(&self, target: &str) -> Command {
        let mut cmd = Command::new(self.bin(target));
        cmd.current_dir(project_root())
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
            .arg(format!("-timeout={TIMEOUT_SECS}"));
        cmd
    }

    /// Runs every input under `fuzz/regressions/<target>` once; fails on any failure.
    fn replay_regressions(&self, target: &str) -> Result<()> {
        let dir = self.dir.join("regressions").join(target);
        let inputs = files_in(&dir)?;
        if inputs.is_empty() {
            return Ok(());
        }
        let mut cmd = self.libfuzzer(target);
        cmd.args(&inputs);
        eprintln!(
            "xtask fuzz: {target}: replaying {} regression input(s)",
            inputs.len()
        );
        let log = self.log_path(target, "regressions")?;
        let status = run_logged(&mut cmd, &log)?;
        if !status.success() {
            bail!(
                "{target}: a regression input under {} fails again ({status}); log: {}",
                dir.display(),
                log.display()
            );
        }
        Ok(())
    }

    /// Fuzzes `target` for `seconds` with `work` as the working corpus.
    fn fuzz_one(&self, target: &str, seconds: u64, work: &Path) -> Result<Outcome> {
        let seeds = self.dir.join("corpus").join(target);
        let artifacts = self.dir.join("artifacts").join(target);
        for dir in [work, &artifacts] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let log = self.log_path(target, "fuzz")?;
        let mut cmd = self.libfuzzer(target);
        cmd.arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            // libFuzzer appends the file name (crash-<sha1>) to the prefix as given.
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg(work)
            .arg(&seeds);
        eprintln!(
            "xtask fuzz: {target} for {seconds} s (seeds {}, log {})",
            seeds.display(),
            log.display()
        );
        let start = Instant::now();
        let status = run_logged(&mut cmd, &log)?;
        let seconds = start.elapsed().as_secs_f64();
        let text =
            fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
        let input = saved_input(&text);
        let failure = (!status.success()).then(|| Failure {
            kind: input
                .as_ref()
                .and_then(|p| {
                    p.file_name()?
                        .to_str()?
                        .split('-')
                        .next()
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| status.to_string()),
            input,
            log: log.clone(),
        });
        if failure.is_some() {
            eprintln!("--- from {} ---\n{}", log.display(), failure_excerpt(&text));
        }
        Ok(Outcome {
            target: target.to_owned(),
            executions: executions(&text),
            seconds,
            failure,
        })
    }

    /// Adds to `fuzz/corpus/<target>` the inputs of `work` that cover something the seeds
    /// do not (libFuzzer's `-merge=1`), and says how many.
    fn merge_into_seeds(&self, target: &str, work: &Path) -> Result<()> {
        let seeds = self.dir.join("corpus").join(target);
        let before = files_in(&seeds)?.len();
        let mut cmd = self.libfuzzer(target);
        cmd.arg("-merge=1").arg(&seeds).arg(work);
        let log = self.log_path(target, "merge")?;
        let status = run_logged(&mut cmd, &log)?;
        if !status.success() {
            bail!(
                "{target}: merging into {} failed; log: {}",
                seeds.display(),
                log.display()
            );
        }
        let added = files_in(&seeds)?.len() - before;
        eprintln!(
            "xtask fuzz: {target}: {added} input(s) added to {} (review them before committing)",
            seeds.display()
        );
        Ok(())
    }

    fn log_path(&self, target: &str, what: &str) -> Result<PathBuf> {
        let dir = self.target_dir.join("logs");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join(format!("{target}-{what}.log")))
    }
}

/// Removes what `cargo run` told xtask about itself (`CARGO_PKG_NAME=xtask`, ...): ring's
/// build script reruns when one of those changes, which rebuilt half the plugin's
/// dependencies each time a shell's `cargo fuzz build` and xtask's took turns.
fn without_cargo_run_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(name);
        }
    }
}

/// Runs `cmd` with stdout and stderr into `log` (libFuzzer prints a line per new input).
fn run_logged(cmd: &mut Command, log: &Path) -> Result<std::process::ExitStatus> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("could not start {}", cmd.get_program().to_string_lossy()))
}

/// The files directly in `dir`, sorted (none when it does not exist).
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The host's target triple (cargo-fuzz builds for it: `target/fuzz/<triple>/release`).
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("could not run `rustc -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` printed no host triple")
}

/// libFuzzer's count of executed inputs (`-print_final_stats=1`), or its closing
/// `Done N runs` line.
fn executions(log: &str) -> Option<u64> {
    let stat = log.lines().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.lines().find_map(|l| {
            l.strip_prefix("Done ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    })
}

/// The input libFuzzer saved for a failure: `... Test unit written to PATH`.
fn saved_input(log: &str) -> Option<PathBuf> {
    log.lines()
        .filter_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()))
        .next_back()
        .map(PathBuf::from)
}

/// What a failed run's log says about the failure: the panic message (without its
/// backtrace) and libFuzzer's report from its `ERROR:` line on.
fn failure_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    if let Some(at) = lines.iter().position(|l| l.contains("panicked at")) {
        out.extend(
            lines[at..]
                .iter()
                .take_while(|l| !l.starts_with("stack backtrace:"))
                .take(20),
        );
    }
    match lines.iter().position(|l| l.contains("ERROR: libFuzzer")) {
        Some(at) => out.extend(&lines[at..]),
        None => out.extend(&lines[lines.len().saturating_sub(20)..]),
    }
    out.join("\n")
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "{:<16} {:>12} {:>8} {:>10}  result",
        "target", "executions", "seconds", "exec/s"
    );
    for o in outcomes {
        let (execs, rate) = match o.executions {
            Some(n) => (
                n.to_string(),
                format!("{:.0}", n as f64 / o.seconds.max(0.001)),
            ),
            None => ("?".into(), "?".into()),
        };
        let result = match &o.failure {
            None => "ok, 0 crashes".to_owned(),
            Some(f) => format!("FAILED: {}", f.kind),
        };
        println!(
            "{:<16} {execs:>12} {:>8.1} {rate:>10}  {result}",
            o.target, o.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let fuzz = project_root().join("fuzz");
        let manifest = fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(
                fuzz.join("fuzz_targets")
                    .join(format!("{target}.rs"))
                    .is_file(),
                "{target}"
            );
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            assert!(!files_in(&fuzz.join("corpus").join(target))
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn reads_libfuzzer_final_stats() {
        let log = "#1024\tpulse  cov: 10\nDone 2021125 runs in 11 second(s)\n\
                   stat::number_of_executed_units: 2021125\nstat::average_exec_per_sec: 183738\n";
        assert_eq!(executions(log), Some(2_021_125));
        assert_eq!(executions("Done 77 runs in 1 second(s)\n"), Some(77));
        assert_eq!(executions("INFO: Seed: 1\n"), None);
    }

    #[test]
    fn a_failure_shows_the_panic_and_the_report() {
        let log =
            "#8\tNEW cov: 797\n\nthread '<unnamed>' panicked at fuzz_targets/settings.rs:71:17:\n\
                   the error shows secret \"k3y\"\nstack backtrace:\n   0: rust_begin_unwind\n\
                   ==1== ERROR: libFuzzer: deadly signal\nSUMMARY: libFuzzer: deadly signal\n";
        assert_eq!(
            failure_excerpt(log),
            "thread '<unnamed>' panicked at fuzz_targets/settings.rs:71:17:\n\
             the error shows secret \"k3y\"\n\
             ==1== ERROR: libFuzzer: deadly signal\nSUMMARY: libFuzzer: deadly signal"
        );
    }

    #[test]
    fn finds_the_saved_input() {
        let log = "==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='/r/fuzz/artifacts/settings/'; Test unit written to \
                   /r/fuzz/artifacts/settings/crash-43092df0\nBase64: e30=\n";
        assert_eq!(
            saved_input(log),
            Some(PathBuf::from("/r/fuzz/artifacts/settings/crash-43092df0"))
        );
        assert_eq!(saved_input("Done 5 runs in 1 second(s)\n"), None);
    }
}
