//! The `TEST_LOG` gate (see the kit's module comment).

use std::process::{Command, Stdio};

use maia::{LogSettings, Sink};

/// The variable that turns logs on.
pub const VAR: &str = "TEST_LOG";

/// The log level `TEST_LOG` asks for, if it is set.
pub fn level() -> Option<String> {
    let value = std::env::var(VAR).ok()?;
    let value = value.trim();
    Some(if ["", "1", "true"].contains(&value) {
        "debug".to_string()
    } else {
        value.to_string()
    })
}

/// With `TEST_LOG` set, installs `maia`'s logger for in-process apps (once per binary; a
/// second call is a no-op).
pub fn init_in_process() {
    if let Some(level) = level() {
        let settings = LogSettings {
            level: level.try_into().unwrap_or_else(|e| panic!("{VAR}: {e}")),
            ..LogSettings::default()
        };
        maia::init_logging(&settings, Sink::Stderr);
    }
}

/// With `TEST_LOG` set, gives `command` (a `maia` command) that log level.
pub fn set_level(command: &mut Command) -> &mut Command {
    if let Some(level) = level() {
        command.env("MAIA_LOG__LEVEL", level);
    }
    command
}

/// With `TEST_LOG` set, sends `command`'s standard output and error to the test's standard
/// error, and returns true; otherwise leaves them alone and returns false.
pub fn show_output(command: &mut Command) -> bool {
    if level().is_none() {
        return false;
    }
    command
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::from(std::io::stderr()));
    true
}
