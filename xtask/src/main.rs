//! `cargo xtask`: the project's automation, as a plain Rust crate (see `flags.rs` for the
//! command line; one module per command, each with a `run`).

mod ci;
mod demo;
mod dist;
mod fixtures;
mod flags;
mod frontend;
mod fuzz;
mod install;
mod new_source;
mod package;
mod platform;
mod schema;
mod setup;
#[cfg(test)]
mod testutil;
mod util;
mod validate;

use flags::Command;

fn main() -> anyhow::Result<()> {
    let command = Command::parse(std::env::args().skip(1))?;
    match command {
        Command::Ci => ci::run(),
        Command::Dist { target } => dist::run(target),
        Command::Package => package::run(),
        Command::Validate { path } => validate::run(path),
        Command::Install { plugins_dir } => install::run(plugins_dir),
        Command::Demo(args) => demo::run(args),
        Command::Fixtures { check } => fixtures::run(check),
        Command::Schema { check } => schema::run(check),
        Command::NewSource { name } => new_source::run(&name),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Help => {
            print!("{}", flags::USAGE);
            Ok(())
        }
    }
}
