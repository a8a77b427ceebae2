//! Running PostgreSQL's programs to their end.

use std::io::Write;
use std::process::{Command, Stdio};

use super::error::{io, ClusterError};

/// Runs `command` (called `name` in errors) to its end, with `input` on its standard input
/// if any; a failure carries what it printed.
pub fn run(mut command: Command, name: &str, input: Option<&str>) -> Result<(), ClusterError> {
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("cannot run {name}")))?;
    // A program that fails early stops reading: its status and output say why, not the
    // broken pipe.
    let written = match (input, child.stdin.take()) {
        (Some(text), Some(mut stdin)) => stdin.write_all(text.as_bytes()),
        _ => Ok(()),
    };
    let output = child
        .wait_with_output()
        .map_err(io(format!("cannot run {name}")))?;
    if output.status.success() {
        return written.map_err(io(format!("cannot write to {name}")));
    }
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    Err(ClusterError::Command {
        command: name.to_string(),
        output: text,
    })
}
