//! The build context's directory and the Dockerfile, wherever they come from: a
//! directory, a tar stream, a git repository or a URL.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Component, PathBuf};

use tempfile::TempDir;

use crate::Events;
use crate::archive::starts_like_tar;
use crate::context::{Context, extract};
use crate::fetch::{GitSource, download};
use crate::fsroot::Root;
use crate::net::Http;

use super::FrontendError;
use super::request::{ContextSource, DockerfileSource};

/// The largest Dockerfile read, so that a wrong path (a device, a huge file) fails fast.
pub const DOCKERFILE_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads a Dockerfile, shown as `name`, from `reader`: at most [`DOCKERFILE_LIMIT`]
/// bytes of UTF-8 text.
///
/// # Errors
///
/// [`FrontendError::ReadDockerfile`], [`FrontendError::DockerfileTooLarge`] and
/// [`FrontendError::DockerfileNotUtf8`].
pub fn read_dockerfile(reader: impl Read, name: &str) -> Result<String, FrontendError> {
    let mut bytes = Vec::new();
    reader
        .take(DOCKERFILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FrontendError::ReadDockerfile {
            name: name.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > DOCKERFILE_LIMIT {
        return Err(FrontendError::DockerfileTooLarge {
            name: name.to_owned(),
            limit: DOCKERFILE_LIMIT,
        });
    }
    String::from_utf8(bytes).map_err(|source| FrontendError::DockerfileNotUtf8 {
        name: name.to_owned(),
        source,
    })
}

/// The context directory and the Dockerfile of one build.
pub(super) struct Input {
    /// The context's directory.
    pub context_dir: PathBuf,
    /// The Dockerfile's path, when it is a file (its `.dockerignore` may sit beside it).
    pub dockerfile_path: Option<PathBuf>,
    /// The Dockerfile's name, as errors and warnings show it.
    pub name: String,
    /// The Dockerfile.
    pub text: String,
    /// Holds a context made for this build (from a stream, a URL): a new directory each
    /// time, so the context is [streamed](Context::streamed).
    temp: Option<TempDir>,
}

/// How the input is fetched: the `ADD`-like downloads and whether a git checkout keeps
/// its `.git`.
pub(super) struct Fetch<'a> {
    pub http: &'a Http,
    pub keep_git_dir: bool,
    pub events: &'a dyn Events,
}

impl Input {
    /// Reads the context `context` and the Dockerfile `dockerfile`.
    pub(super) fn read(
        context: &mut ContextSource,
        dockerfile: &DockerfileSource,
        fetch: &Fetch<'_>,
    ) -> Result<Input, FrontendError> {
        match context {
            ContextSource::Dir(dir) => Self::local(dir.clone(), dockerfile),
            ContextSource::Stream { name, reader } => {
                let temp = temp_dir()?;
                Self::stream(reader, name, dockerfile, temp)
            }
            ContextSource::Git(url) => Self::git(url, dockerfile, fetch),
            ContextSource::Url(url) => {
                let temp = temp_dir()?;
                let failed = |source| FrontendError::DownloadContext {
                    url: url.clone(),
                    source: Box::new(source),
                };
                let got =
                    download(url, temp.path(), None, fetch.http, fetch.events).map_err(failed)?;
                let mut file =
                    File::open(&got.path).map_err(|source| FrontendError::ReadContext {
                        name: url.clone(),
                        source,
                    })?;
                Self::stream(&mut file, url, dockerfile, temp)
            }
        }
    }

    /// Opens the context: its files are taken as new (streamed) when it was made for
    /// this build.
    pub(super) fn open_context(&self) -> Result<Context, FrontendError> {
        let context = Context::open(&self.context_dir, self.dockerfile_path.as_deref())
            .map_err(crate::Error::from)?;
        Ok(match self.temp {
            Some(_) => context.streamed(),
            None => context,
        })
    }

    /// A directory on the host as the context.
    fn local(dir: PathBuf, dockerfile: &DockerfileSource) -> Result<Input, FrontendError> {
        let (path, name) = match dockerfile {
            DockerfileSource::Text { name, text } => {
                return Ok(Input {
                    context_dir: dir,
                    dockerfile_path: None,
                    name: name.clone(),
                    text: text.clone(),
                    temp: None,
                });
            }
            DockerfileSource::Path(path) => (path.clone(), path.display().to_string()),
            DockerfileSource::Default => (dir.join("Dockerfile"), "Dockerfile".to_owned()),
        };
        // The caller's own path (or the caller's directory's `Dockerfile`), so read as
        // the caller would.
        let text = File::open(&path)
            .map_err(|source| FrontendError::ReadDockerfile {
                name: path.display().to_string(),
                source,
            })
            .and_then(|file| read_dockerfile(file, &path.display().to_string()))?;
        Ok(Input {
            context_dir: dir,
            dockerfile_path: Some(path),
            name,
            text,
            temp: None,
        })
    }

    /// A tar stream of the context, or, as docker takes it, a lone Dockerfile (shown as
    /// `name`) with an empty context; unpacked into `temp`.
    fn stream(
        reader: &mut dyn Read,
        name: &str,
        dockerfile: &DockerfileSource,
        temp: TempDir,
    ) -> Result<Input, FrontendError> {
        let context_dir = temp.path().join("context");
        std::fs::create_dir(&context_dir).map_err(|source| FrontendError::CreateTemp { source })?;
        let mut head = Vec::with_capacity(512);
        reader
            .take(512)
            .read_to_end(&mut head)
            .map_err(|source| FrontendError::ReadContext {
                name: name.to_owned(),
                source,
            })?;
        let whole = Cursor::new(head.clone()).chain(reader);
        if starts_like_tar(&head) {
            extract(whole, &context_dir).map_err(crate::Error::from)?;
            return Self::in_dir(context_dir, dockerfile, temp);
        }
        if let DockerfileSource::Text { .. } = dockerfile {
            return Err(FrontendError::TwoDockerfiles {
                name: name.to_owned(),
            });
        }
        Ok(Input {
            context_dir,
            dockerfile_path: None,
            name: name.to_owned(),
            text: read_dockerfile(whole, name)?,
            temp: Some(temp),
        })
    }

    /// A git repository's commit as the context.
    fn git(
        url: &str,
        dockerfile: &DockerfileSource,
        fetch: &Fetch<'_>,
    ) -> Result<Input, FrontendError> {
        let failed = |source| FrontendError::FetchContext {
            url: url.to_owned(),
            source: Box::new(source),
        };
        let source = GitSource::parse(url).map_err(failed)?;
        let net = fetch.http.options();
        let resolved = source.resolve(net).map_err(failed)?;
        let temp = temp_dir()?;
        let checkout = source
            .checkout(&resolved, &temp.path().join("repo"), net)
            .map_err(failed)?;
        if !(source.keeps_git_dir() || fetch.keep_git_dir) {
            checkout.remove_git_dirs().map_err(failed)?;
        }
        Self::in_dir(checkout.root, dockerfile, temp)
    }

    /// The context `context_dir`, made for this build in `temp`, with its Dockerfile:
    /// the path given, inside it, or `Dockerfile`.
    fn in_dir(
        context_dir: PathBuf,
        dockerfile: &DockerfileSource,
        temp: TempDir,
    ) -> Result<Input, FrontendError> {
        let file = match dockerfile {
            DockerfileSource::Text { name, text } => {
                return Ok(Input {
                    context_dir,
                    dockerfile_path: None,
                    name: name.clone(),
                    text: text.clone(),
                    temp: Some(temp),
                });
            }
            DockerfileSource::Path(path) => path.clone(),
            DockerfileSource::Default => PathBuf::from("Dockerfile"),
        };
        let name = file.display().to_string();
        // The context is not the caller's: its Dockerfile is found inside it, whatever
        // symlinks it holds.
        let text = Root::open(&context_dir)
            .and_then(|root| root.open_file(&file))
            .map_err(|source| FrontendError::ReadDockerfile {
                name: name.clone(),
                source,
            })
            .and_then(|found| read_dockerfile(found, &name))?;
        // Its `NAME.dockerignore` is looked for beside it only where the path cannot
        // leave the context by its words.
        let inside = file
            .components()
            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
        Ok(Input {
            dockerfile_path: inside.then(|| context_dir.join(&file)),
            context_dir,
            name,
            text,
            temp: Some(temp),
        })
    }
}

/// A new temporary directory for a context made for this build.
fn temp_dir() -> Result<TempDir, FrontendError> {
    tempfile::tempdir().map_err(|source| FrontendError::CreateTemp { source })
}
