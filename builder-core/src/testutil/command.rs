//! Running the independent tools (skopeo, umoci, tar, podman, …) that tests check results
//! with.

use std::io;
use std::process::{Command, Output};

/// Runs `command` to its end and returns its output, which must be a success.
///
/// # Errors
///
/// When the program cannot be started (the error names the Debian package `package`
/// that has it) or exits with a failure (the error holds its command line and stderr).
pub fn run_checked(command: &mut Command, package: &str) -> io::Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let line: Vec<String> = std::iter::once(program.clone())
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect();
    let output = command.output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("`{program}` is needed ({e}): install the Debian package `{package}`"),
        )
    })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "`{}` failed ({}): {}",
            line.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(output)
}
