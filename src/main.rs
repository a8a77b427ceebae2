use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    maia::run(maia::Cli::parse())
}
