//! Errors of the `frontend` module, and where in the Dockerfile they are.

use std::fmt;
use std::io;
use std::num::ParseIntError;
use std::path::PathBuf;
use std::string::FromUtf8Error;

use mkimage_dockerfile::{LowerError, ParseError};

use crate::fetch::FetchError;
use crate::plan::ParseReferenceError;

use super::Warning;

/// What can make a Dockerfile build fail, beyond the engine's errors.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The Dockerfile is wrong, or a step or `FROM` of it failed, at a place in it.
    #[error(transparent)]
    Dockerfile(Box<DockerfileError>),
    /// The Dockerfile cannot be lowered into a plan, for a reason that is about no one
    /// place of it (an unknown `--target`).
    #[error(transparent)]
    Lower(Box<LowerError>),
    /// The `check` directive or `BUILDKIT_DOCKERFILE_CHECK` is not in BuildKit's syntax.
    #[error("invalid build check configuration")]
    CheckOption {
        /// What is wrong with it.
        #[source]
        source: mkimage_dockerfile::checks::CheckConfigError,
    },
    /// Build checks fired under `error=true`.
    #[error("lint violation found for rules: {rules}")]
    ChecksFailed {
        /// The rules that fired, comma-separated, in the order they first fired.
        rules: String,
        /// The checks that fired, to list before the error.
        warnings: Vec<Warning>,
    },
    /// The Dockerfile could not be read.
    #[error("failed to read `{name}`")]
    ReadDockerfile {
        /// The Dockerfile as the caller named it.
        name: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The Dockerfile is larger than any Dockerfile.
    #[error("`{name}` is larger than {limit} bytes: it is not a Dockerfile")]
    DockerfileTooLarge {
        /// The Dockerfile as the caller named it.
        name: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The Dockerfile is not text.
    #[error("`{name}` is not UTF-8 text")]
    DockerfileNotUtf8 {
        /// The Dockerfile as the caller named it.
        name: String,
        /// The cause.
        #[source]
        source: FromUtf8Error,
    },
    /// The Dockerfile was given as text, and the build context is a Dockerfile too.
    #[error("the build context `{name}` is a Dockerfile, so the Dockerfile cannot also be given")]
    TwoDockerfiles {
        /// The context as the caller named it.
        name: String,
    },
    /// A directory for a context made for this build could not be made.
    #[error("failed to create a temporary directory for the build context")]
    CreateTemp {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A context given as a stream could not be read.
    #[error("failed to read the build context `{name}`")]
    ReadContext {
        /// The context as the caller named it.
        name: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A context given as an http(s) URL could not be downloaded.
    #[error("failed to download the build context `{url}`")]
    DownloadContext {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<FetchError>,
    },
    /// A context given as a git repository could not be fetched.
    #[error("failed to fetch the build context `{url}`")]
    FetchContext {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<FetchError>,
    },
    /// `SOURCE_DATE_EPOCH` is not a number.
    #[error("SOURCE_DATE_EPOCH `{value}` is not a number of seconds")]
    SourceDateEpoch {
        /// The value as given.
        value: String,
        /// The cause.
        #[source]
        source: ParseIntError,
    },
    /// A named build context could not be made into an image.
    #[error("build context `{name}` (`{value}`)")]
    NamedContext {
        /// Its name.
        name: String,
        /// Its value as given.
        value: String,
        /// Why.
        #[source]
        source: Box<FrontendError>,
    },
    /// A named build context of a kind mkimage does not read.
    #[error(
        "mkimage reads directories, `docker-image://`, `oci-layout://`, git repositories and \
         http(s) URLs as build contexts; download this one and give its directory"
    )]
    UnknownContextKind,
    /// A named build context that should be a directory is not one.
    #[error("`{}` is not a directory", path.display())]
    NotADirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// An `oci-layout://` named context names an image its layout does not have.
    #[error("the OCI layout `{}` has no image `{digest}`", dir.display())]
    NotInLayout {
        /// The layout's directory.
        dir: PathBuf,
        /// The digest asked for (empty when none was).
        digest: String,
    },
    /// An output (`-o`) is not written as one.
    #[error("invalid output `{text}`: {problem}")]
    InvalidOutput {
        /// The output as written.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A registry output names no valid image reference.
    #[error("invalid output `{text}`")]
    InvalidOutputName {
        /// The output as written.
        text: String,
        /// The cause.
        #[source]
        source: ParseReferenceError,
    },
    /// An extra host (`--add-host`) is not `HOST:IP`.
    #[error("invalid `--add-host` `{text}`: {problem}")]
    InvalidHost {
        /// The value as written.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// The default network of `RUN` steps is the host's, without the `network.host`
    /// entitlement.
    #[error(
        "`--network host` shares the host's network with every `RUN` step, which needs the \
         `network.host` entitlement (`--allow network.host`)"
    )]
    HostNetworkNotAllowed,
    /// `host-gateway` was asked for, and the host's address could not be found.
    #[error("`--add-host` `{host}:host-gateway` needs the host's address on its default route")]
    HostGateway {
        /// The host name asked for.
        host: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A docker archive output of a build for several platforms.
    #[error("a docker archive holds one platform's image: write several platforms with `type=oci`")]
    DockerArchivePlatforms,
    /// An output file could not be written.
    #[error("failed to write `{}`", path.display())]
    WriteOutput {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The image was built and written, and a `--cache-to` export (without
    /// `ignore-error=true`) failed.
    #[error("the image `{image}` was built, but its cache could not be exported")]
    CacheExport {
        /// The image built.
        image: oci_spec::image::Digest,
        /// The cause.
        #[source]
        source: Box<crate::Error>,
    },
    /// The engine failed: the store, a registry, an output.
    #[error(transparent)]
    Engine(Box<crate::Error>),
}

impl From<crate::Error> for FrontendError {
    fn from(error: crate::Error) -> Self {
        FrontendError::Engine(Box::new(error))
    }
}

/// A place in a Dockerfile: the file as the caller named it, the 1-based line and
/// column, and the text of that line (for an excerpt under an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The Dockerfile's name (`Dockerfile`, `app.Dockerfile`, `<stdin>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// The text of the line, without its line ending.
    pub source_line: String,
}

impl Location {
    /// The place `line:col` of the Dockerfile `file`, whose text is `text`.
    pub fn new(file: &str, text: &str, line: usize, col: usize) -> Location {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source_line = text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned();
        Location {
            file: file.to_owned(),
            line,
            col,
            source_line,
        }
    }
}

impl fmt::Display for Location {
    /// `Dockerfile:7:12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// An error at a place in the Dockerfile: `Dockerfile:2:1: `COPY a /` failed`, its
/// causes after it.
#[derive(Debug)]
pub struct DockerfileError {
    at: Location,
    cause: DockerfileCause,
}

/// What went wrong at a place of the Dockerfile.
#[derive(Debug)]
pub enum DockerfileCause {
    /// The text does not parse.
    Parse(ParseError),
    /// An instruction cannot be lowered into a step.
    Lower(LowerError),
    /// A step or a `FROM` failed during the build.
    Build(crate::Error),
}

impl DockerfileError {
    /// The error `cause`, at `at`.
    pub fn new(at: Location, cause: DockerfileCause) -> DockerfileError {
        DockerfileError { at, cause }
    }

    /// Where in the Dockerfile.
    pub fn location(&self) -> &Location {
        &self.at
    }

    /// What went wrong there.
    pub fn cause(&self) -> &DockerfileCause {
        &self.cause
    }

    /// The cause's message, without the `line:col: ` it starts with.
    fn message(&self) -> String {
        let message = match &self.cause {
            DockerfileCause::Parse(error) => return error.message(),
            DockerfileCause::Lower(error) => error.to_string(),
            DockerfileCause::Build(error) => error.to_string(),
        };
        let prefix = format!("{}:{}: ", self.at.line, self.at.col);
        match message.strip_prefix(&prefix) {
            Some(rest) => rest.to_owned(),
            None => message,
        }
    }
}

impl fmt::Display for DockerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message())
    }
}

// Written by hand, not with thiserror: the cause's own message is shown in this error's
// (with the file name in front of its position), so the chain goes on with the cause's
// causes, which thiserror's `#[source]` cannot express.
impl std::error::Error for DockerfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            DockerfileCause::Parse(error) => error.source(),
            DockerfileCause::Lower(error) => error.source(),
            DockerfileCause::Build(error) => error.source(),
        }
    }
}

/// A build error, located in the Dockerfile `file` (whose text is `text`) when it is
/// about a step or a `FROM` of it.
pub(super) fn build_error(file: &str, text: &str, error: crate::Error) -> FrontendError {
    let span = match &error {
        crate::Error::Build(build) => build.span().filter(|span| span.line > 0),
        _ => None,
    };
    match span {
        Some(span) => {
            let at = Location::new(file, text, span.line, span.col);
            FrontendError::Dockerfile(Box::new(DockerfileError::new(
                at,
                DockerfileCause::Build(error),
            )))
        }
        None => error.into(),
    }
}

/// A lowering error, located in the Dockerfile `file` (whose text is `text`) when it has
/// a position.
pub(super) fn lower_error(file: &str, text: &str, error: LowerError) -> FrontendError {
    match error.span() {
        Some(span) => {
            let at = Location::new(file, text, span.line, span.col);
            FrontendError::Dockerfile(Box::new(DockerfileError::new(
                at,
                DockerfileCause::Lower(error),
            )))
        }
        None => FrontendError::Lower(Box::new(error)),
    }
}

/// A parse error, located in the Dockerfile `file` (whose text is `text`).
pub(super) fn parse_error(file: &str, text: &str, error: ParseError) -> FrontendError {
    let position = error.position();
    let at = Location::new(file, text, position.line, position.col);
    FrontendError::Dockerfile(Box::new(DockerfileError::new(
        at,
        DockerfileCause::Parse(error),
    )))
}
