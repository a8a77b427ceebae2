//! A `maia` child process that sees none of the caller's maia configuration, so a developer's
//! shell cannot change what a test or benchmark measures. `kit::process` applies it to every
//! `maia` command it makes.

use std::process::Command;

/// Removes `MAIA_*` (but the PostgreSQL binaries' location), the legacy `DATABASE_URL` and
/// `OLLAMA_BASE_URL`, and `RUST_LOG` from `command`'s environment.
pub fn clear_maia_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("MAIA_") && name != "MAIA_PG_BINDIR"
            || ["DATABASE_URL", "OLLAMA_BASE_URL", "RUST_LOG"].contains(&name)
        {
            command.env_remove(name);
        }
    }
    command
}
