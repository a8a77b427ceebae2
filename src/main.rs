use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    maia::cli::run(maia::cli::Cli::parse())
}
