//! `ringstream-harness`: conformance runners (and, with the harness issue, `watch`).

use std::io::Read;

use anyhow::{bail, Context, Result};
use ringstream_harness::conformance;

const USAGE: &str = "\
ringstream-harness <command>

Commands:
  conformance ring   read a RingFrame op script (JSON) on stdin, print the frame (JSON)
  conformance live   read DataFrameJSON messages and stream options (JSON) on stdin, print
                     the frame a StreamingDataFrame would hold (JSON)
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
        ["help" | "--help" | "-h"] | [] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{USAGE}", args.join(" ")),
    }
}
