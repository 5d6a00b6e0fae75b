//! `cargo xtask`: the project's automation, as a plain Rust crate (see `flags.rs` for the
//! command line; one module per command, each with a `run`).

mod ci;
mod fixtures;
mod flags;
mod util;

use flags::Command;

fn main() -> anyhow::Result<()> {
    let command = Command::parse(std::env::args().skip(1))?;
    match command {
        Command::Ci => ci::run(),
        Command::Fixtures { check } => fixtures::run(check),
        Command::Help => {
            print!("{}", flags::USAGE);
            Ok(())
        }
    }
}
