//! Errors of the `fetch` module.

use std::io;
use std::path::PathBuf;

use crate::net::NetError;

/// What can fail when an `ADD` source is fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A `--checksum` value is not `<algorithm>:<hex digest>` of a supported algorithm.
    #[error(
        "checksum `{checksum}` is not `sha256:`, `sha384:` or `sha512:` followed by its hex digest"
    )]
    BadChecksum {
        /// The value as written.
        checksum: String,
    },
    /// The request got no whole answer: every try timed out, broke or met a server
    /// error, or it could not be made (a bad URL, a TLS error). It names the URL, the
    /// tries and (as its cause) the last failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The server answered with a status other than success.
    #[error("`{url}` answered with HTTP status {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The downloaded file could not be written.
    #[error("failed to write the download of `{url}` to `{}`", path.display())]
    WriteDownload {
        /// The URL.
        url: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The body's digest is not the one `--checksum` expects.
    #[error("`{url}` has digest `{actual}`, but `--checksum` expects `{expected}`")]
    ChecksumMismatch {
        /// The URL.
        url: String,
        /// The expected digest.
        expected: String,
        /// The digest of what was downloaded, in the same algorithm.
        actual: String,
    },
    /// The `git` command cannot be run.
    #[error("failed to run `git {command}` (Debian package `git`)")]
    RunGit {
        /// The git subcommand.
        command: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A `git` command failed.
    #[error("`git {command}` of `{remote}` failed: {stderr}")]
    Git {
        /// The repository.
        remote: String,
        /// The git subcommand.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// The remote has no such branch, tag or ref.
    #[error("`{remote}` has no branch, tag or ref `{reference}`")]
    GitRefNotFound {
        /// The repository.
        remote: String,
        /// The ref as written.
        reference: String,
    },
    /// A `.git` of a checkout could not be removed.
    #[error("failed to remove `{}` from a git checkout", path.display())]
    RemoveGitDir {
        /// The `.git` directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A git URL's queries are wrong.
    #[error("invalid git URL `{url}`: {reason}")]
    GitQuery {
        /// The source as written.
        url: String,
        /// Why, in a few words.
        reason: String,
    },
    /// The subdirectory named after `:` is not a directory of the commit.
    #[error("`{subdir}` is not a directory of `{remote}`")]
    GitSubdir {
        /// The repository.
        remote: String,
        /// The subdirectory as written.
        subdir: String,
    },
    /// The commit is not the one `--checksum` (or the URL's `?checksum=`) expects.
    #[error("`{remote}` is at commit `{actual}`, but `--checksum` expects `{expected}`")]
    GitCommitMismatch {
        /// The repository.
        remote: String,
        /// The expected commit (or its prefix).
        expected: String,
        /// The resolved commit.
        actual: String,
    },
}
