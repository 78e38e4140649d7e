//! Errors of the `run` module.

use std::io;
use std::path::PathBuf;

use crate::exec::ExecError;
use crate::layer::LayerError;
use crate::rootfs::RootfsError;
use crate::store::StoreError;
use crate::user::UserError;

/// What can make a `RUN` step fail.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The command ran and exited with a non-zero status.
    #[error(
        "the command `{command}` exited with code {code}{}",
        last_lines(output)
    )]
    Failed {
        /// The command as run (`/bin/sh -c …`).
        command: String,
        /// The exit code.
        code: i32,
        /// The last lines of its output (standard output and error as they came).
        output: Vec<String>,
    },
    /// The command was killed by a signal.
    #[error(
        "the command `{command}` was killed by signal {signal}{}",
        last_lines(output)
    )]
    Killed {
        /// The command as run.
        command: String,
        /// The signal.
        signal: i32,
        /// The last lines of its output.
        output: Vec<String>,
    },
    /// The sandbox could not be set up or run.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The base image's layers could not be prepared.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The step's changes could not be read or written as a layer.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The image's `USER` could not be resolved.
    #[error(transparent)]
    User(#[from] UserError),
    /// A file of the image (`/etc/passwd`) could not be read.
    #[error("failed to read `{path}` from the image")]
    ReadImageFile {
        /// The path in the image.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A directory for the step could not be prepared.
    #[error("failed to prepare `{}` for the step", path.display())]
    Prepare {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A `--mount` source cannot be found (or copied) inside what it is mounted from.
    #[error("failed to mount `{source_path}` from {from} (`{kind}` mount)")]
    MountSource {
        /// The mount type.
        kind: &'static str,
        /// The source path, inside `from`.
        source_path: String,
        /// `the build context`, `stage 1`, `the image `…``.
        from: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A `--mount` needs something the build was not given.
    #[error("{what} `{id}` was not given to the build")]
    MissingInput {
        /// `secret`, `ssh agent`.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A `--mount` of a kind this builder does not run yet.
    #[error("`RUN --mount={kind}` is not supported yet{detail}")]
    UnsupportedMount {
        /// The mount type.
        kind: &'static str,
        /// What about it is unsupported.
        detail: String,
    },
}

/// `; its last output:` and the lines, indented, or nothing when there was no output.
fn last_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("; its last output:");
    for line in lines {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}
