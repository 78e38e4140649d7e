//! Fetching a git repository source of `ADD` with the `git` command.
//!
//! The `git` CLI does the work (transports, credentials, ssh) as it does for BuildKit;
//! nothing here speaks a git protocol. [`GitSource::resolve`] runs `git ls-remote` to
//! find the commit (the step's cache input, so a cache hit clones nothing) and
//! [`GitSource::checkout`] fetches that commit (shallow when the server allows it) into
//! a new repository and checks it out, with its submodules. Each waits no longer than
//! the [`NetOptions`] say: an HTTP transfer that moves nothing for the idle timeout
//! fails, and the `git` commands of one resolve or checkout are killed at its deadline.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::FetchError;
use super::deadline::Deadline;
use crate::events::RequestRef;
use crate::fsroot::{Root, proc_path};
use crate::net::{Failure, NetError, NetOptions};

/// A git source as `ADD` and `docker build` take it: `<remote>[#<ref>[:<subdir>]]`, or a
/// URL with the queries of BuildKit 0.24 (`?tag=T`, `?branch=B`, `?ref=R`, `?subdir=D`,
/// `?checksum=C` or `?commit=C`, `?keep-git-dir`, `?submodules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    remote: String,
    reference: Option<String>,
    subdir: Option<String>,
    /// The commit (or a prefix of it) the ref must resolve to (`?checksum=`).
    checksum: Option<String>,
    /// `?keep-git-dir`: keep the `.git` directory.
    keep_git_dir: bool,
    /// Whether submodules are checked out too (unless `?submodules=false`).
    submodules: bool,
}

/// A reference resolved on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The commit, full hex.
    pub commit: String,
    /// The remote ref that points at it (`refs/heads/main`), `None` for a commit named
    /// directly.
    pub refname: Option<String>,
}

/// A commit checked out by [`GitSource::checkout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The directory `ADD` copies: the work tree, or its subdirectory named in the source.
    pub root: PathBuf,
    /// The commit's committer time, seconds since the epoch: the mtime of every file.
    pub commit_time: i64,
    /// The work tree, with `.git`.
    repo: PathBuf,
}

impl Checkout {
    /// Removes every `.git` of the work tree: the repository's directory and its
    /// submodules' `.git` files, as BuildKit leaves them out unless asked to keep them.
    ///
    /// # Errors
    ///
    /// [`FetchError::RemoveGitDir`] when one cannot be read or removed.
    pub fn remove_git_dirs(&self) -> Result<(), FetchError> {
        let failed = |path: &Path, source: std::io::Error| FetchError::RemoveGitDir {
            path: path.to_owned(),
            source,
        };
        let mut found = Vec::new();
        let mut walk = walkdir::WalkDir::new(&self.repo).min_depth(1).into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&self.repo).to_owned();
                failed(&path, e.into())
            })?;
            if entry.file_name() == ".git" {
                let is_dir = entry.file_type().is_dir();
                if is_dir {
                    walk.skip_current_dir();
                }
                found.push((entry.into_path(), is_dir));
            }
        }
        for (path, is_dir) in found {
            let removed = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| failed(&path, source))?;
        }
        Ok(())
    }
}

impl GitSource {
    /// Splits `source` into the remote, the ref and the subdirectory after `#`, and
    /// reads the queries of a URL (`scheme://…?…`) as BuildKit reads them: `tag` and
    /// `branch` name `refs/tags/T` and `refs/heads/B`, `checksum` (alias `commit`) is
    /// checked against the resolved commit (and is the ref when none is named).
    ///
    /// # Errors
    ///
    /// [`FetchError::GitQuery`] for an unknown query, one without a value or given twice,
    /// and queries that name different refs or subdirectories.
    pub fn parse(source: &str) -> Result<GitSource, FetchError> {
        let (before, fragment) = match source.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (source, None),
        };
        let (remote, query) = match before.split_once('?') {
            Some((remote, query)) if remote.contains("://") => (remote, Some(query)),
            _ => (before, None),
        };
        let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
            Some((reference, subdir)) => (
                Some(reference.to_owned()).filter(|r| !r.is_empty()),
                Some(subdir.to_owned()).filter(|s| !s.is_empty()),
            ),
            None => (None, None),
        };
        let mut git = GitSource {
            remote: remote.to_owned(),
            reference,
            subdir,
            checksum: None,
            keep_git_dir: false,
            submodules: true,
        };
        if let Some(query) = query {
            git.read_query(query)
                .map_err(|reason| FetchError::GitQuery {
                    url: source.to_owned(),
                    reason,
                })?;
        }
        Ok(git)
    }

    /// Reads a URL's queries into `self`; the error says why they are wrong.
    fn read_query(&mut self, query: &str) -> Result<(), String> {
        let mut seen = Vec::new();
        let (mut tag, mut branch) = (None, None);
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (unescape(key), unescape(value));
            let (key, value) = (key.as_str(), value.as_str());
            if seen.contains(&key.to_owned()) {
                return Err(format!("query `{key}` has multiple values"));
            }
            seen.push(key.to_owned());
            let flag = |value: &str| match value {
                "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(format!("invalid `{key}` value `{value}`")),
            };
            if value.is_empty() && !matches!(key, "keep-git-dir" | "submodules") {
                return Err(format!("query `{key}` has no value"));
            }
            match key {
                "ref" => self.reference = Some(same(self.reference.take(), value, "ref")?),
                "tag" => tag = Some(with_prefix(value, "refs/tags/")),
                "branch" => branch = Some(with_prefix(value, "refs/heads/")),
                "subdir" => self.subdir = Some(same(self.subdir.take(), value, "subdir")?),
                "checksum" | "commit" => self.checksum = Some(value.to_owned()),
                "keep-git-dir" => self.keep_git_dir = flag(value)?,
                "submodules" => self.submodules = flag(value)?,
                _ => return Err(format!("unexpected query `{key}`")),
            }
        }
        if tag.is_some() && branch.is_some() {
            return Err("`branch` conflicts with `tag`".to_owned());
        }
        if let Some(named) = tag.or(branch) {
            self.reference = Some(same(self.reference.take(), &named, "ref")?);
        }
        if self.reference.is_none() {
            self.reference.clone_from(&self.checksum);
        }
        Ok(())
    }

    /// Whether the source asks to keep the `.git` directory (`?keep-git-dir`).
    pub fn keeps_git_dir(&self) -> bool {
        self.keep_git_dir
    }

    /// The repository URL, without the fragment.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Finds the commit the source names: its ref (a branch, a tag, a full ref name;
    /// `HEAD` when none) on the remote, or the commit itself when the ref is a full hex
    /// commit id. `net` bounds the wait for the remote.
    ///
    /// # Errors
    ///
    /// [`FetchError::RunGit`] when `git` cannot run, [`FetchError::Git`] when
    /// `ls-remote` fails (an HTTP remote idle for the idle timeout among the reasons),
    /// [`FetchError::Net`] when it does not end by the deadline,
    /// [`FetchError::GitRefNotFound`] when the remote lacks the ref.
    pub fn resolve(&self, net: &NetOptions) -> Result<Resolved, FetchError> {
        let reference = self.reference.as_deref().unwrap_or("HEAD");
        let is_hex = reference.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex && matches!(reference.len(), 40 | 64) {
            return self.check(Resolved {
                commit: reference.to_ascii_lowercase(),
                refname: None,
            });
        }
        let deadline = Deadline::start(net);
        let listed = self.git(None, &["ls-remote", "--", &self.remote], &deadline)?;
        let refs: Vec<(&str, &str)> = listed
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect();
        // A full ref name's peeled tag first, so that an annotated tag gives its commit.
        let candidates = [
            format!("{reference}^{{}}"),
            reference.to_owned(),
            format!("refs/tags/{reference}^{{}}"),
            format!("refs/tags/{reference}"),
            format!("refs/heads/{reference}"),
            format!("refs/{reference}"),
        ];
        let found = candidates.iter().find_map(|candidate| {
            let (commit, _) = refs.iter().find(|(_, name)| name == candidate)?;
            let refname = candidate.strip_suffix("^{}").unwrap_or(candidate);
            Some(Resolved {
                commit: (*commit).to_owned(),
                refname: Some(refname.to_owned()),
            })
        });
        let resolved = found.ok_or_else(|| FetchError::GitRefNotFound {
            remote: self.remote.clone(),
            reference: reference.to_owned(),
        })?;
        self.check(resolved)
    }

    /// `resolved`, if it is the commit `?checksum=` expects.
    fn check(&self, resolved: Resolved) -> Result<Resolved, FetchError> {
        match &self.checksum {
            Some(expected) if !resolved.commit.starts_with(&expected.to_ascii_lowercase()) => {
                Err(FetchError::GitCommitMismatch {
                    remote: self.remote.clone(),
                    expected: expected.clone(),
                    actual: resolved.commit,
                })
            }
            _ => Ok(resolved),
        }
    }

    /// Fetches `resolved` into a new repository at `dir` (which must not exist) and
    /// checks it out. `net` bounds the waits for the remote: the whole checkout ends by
    /// its deadline.
    ///
    /// # Errors
    ///
    /// [`FetchError::RunGit`] when `git` cannot run, [`FetchError::Git`] when a `git`
    /// command fails, [`FetchError::Net`] when the checkout does not end by the deadline,
    /// [`FetchError::GitSubdir`] when the subdirectory is not a directory of the commit
    /// or leaves it.
    pub fn checkout(
        &self,
        resolved: &Resolved,
        dir: &Path,
        net: &NetOptions,
    ) -> Result<Checkout, FetchError> {
        let deadline = Deadline::start(net);
        let git = |dir: Option<&Path>, args: &[&str]| self.git(dir, args, &deadline);
        let dir_arg = dir.to_string_lossy().into_owned();
        git(None, &["init", "-q", &dir_arg])?;
        let want = resolved.refname.as_deref().unwrap_or(&resolved.commit);
        let shallow = [
            "fetch",
            "-q",
            "--no-tags",
            "--depth",
            "1",
            "--",
            &self.remote,
            want,
        ];
        if git(Some(dir), &shallow).is_err() {
            // Dumb HTTP servers and some others cannot serve a shallow fetch or one by
            // commit id: fetch the ref, or every branch and tag, whole.
            let all = [
                "fetch",
                "-q",
                "--tags",
                "--",
                &self.remote,
                "+refs/heads/*:refs/heads/*",
            ];
            let whole = ["fetch", "-q", "--no-tags", "--", &self.remote, want];
            let args: &[&str] = if resolved.refname.is_some() {
                &whole
            } else {
                &all
            };
            git(Some(dir), args)?;
        }
        git(
            Some(dir),
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                &resolved.commit,
            ],
        )?;
        // Submodules too, as BuildKit checks them out (at depth 1 where the server can).
        if self.submodules && dir.join(".gitmodules").is_file() {
            // Relative submodule URLs are resolved against `origin`.
            git(Some(dir), &["remote", "add", "origin", &self.remote])?;
            let update = ["submodule", "--quiet", "update", "--init", "--recursive"];
            let shallow = [&update[..], &["--depth", "1"]].concat();
            if git(Some(dir), &shallow).is_err() {
                git(Some(dir), &update)?;
            }
        }
        let time = git(Some(dir), &["log", "-1", "--format=%ct", &resolved.commit])?;
        let commit_time = time.trim().parse().unwrap_or(0);
        let root = match &self.subdir {
            None => dir.to_owned(),
            Some(subdir) => {
                let inside = Path::new(subdir)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                // Resolved inside the checkout: a symlink of the repository on the way
                // leads to its target there, never out of it. The directory's host path
                // (the context that is opened on it) is then read from its descriptor.
                let found = inside
                    .then(|| Root::open(dir).and_then(|tree| tree.dir(Path::new(subdir), false)))
                    .and_then(Result::ok)
                    .and_then(|found| std::fs::canonicalize(proc_path(&found)).ok());
                let Some(root) = found else {
                    return Err(FetchError::GitSubdir {
                        remote: self.remote.clone(),
                        subdir: subdir.clone(),
                    });
                };
                root
            }
        };
        Ok(Checkout {
            root,
            commit_time,
            repo: dir.to_owned(),
        })
    }

    /// Runs `git ARGS` (in `dir`, if given) without prompting for credentials, within
    /// `deadline`; returns its stdout.
    fn git(
        &self,
        dir: Option<&Path>,
        args: &[&str],
        deadline: &Deadline<'_>,
    ) -> Result<String, FetchError> {
        let mut command = Command::new("git");
        command.args(deadline.idle_config());
        if let Some(dir) = dir {
            command.arg("-C").arg(dir);
        }
        command.args(args).env("GIT_TERMINAL_PROMPT", "0");
        // The subcommand, for messages: the first word that is not an option.
        let name = args
            .iter()
            .find(|a| !a.starts_with('-') && **a != "advice.detachedHead=false")
            .copied()
            .unwrap_or_default()
            .to_owned();
        let output = deadline
            .run(&mut command)
            .map_err(|source| FetchError::RunGit {
                command: name.clone(),
                source,
            })?;
        let Some(output) = output else {
            return Err(NetError::Failed {
                request: RequestRef {
                    label: format!("`git {name}` of `{}`", self.remote),
                },
                attempts: 1,
                cause: Failure::Deadline(deadline.options().deadline),
            }
            .into());
        };
        if !output.status.success() {
            return Err(FetchError::Git {
                remote: self.remote.clone(),
                command: name,
                stderr: output.stderr,
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// A query's key or value decoded as Go's `url.ParseQuery` decodes it: `+` is a space,
/// `%XX` a byte.
fn unescape(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `value`, unless `current` names another one.
fn same(current: Option<String>, value: &str, what: &str) -> Result<String, String> {
    match current {
        Some(current) if current != value => {
            Err(format!("{what} conflicts: `{current}` vs `{value}`"))
        }
        _ => Ok(value.to_owned()),
    }
}

/// `name` with `prefix` in front, unless it starts with it.
fn with_prefix(name: &str, prefix: &str) -> String {
    if name.starts_with(prefix) {
        name.to_owned()
    } else {
        format!("{prefix}{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn splits_the_ref_and_the_subdirectory() {
        let cases = [
            ("https://h/r.git", "https://h/r.git", None, None),
            ("https://h/r.git#v1", "https://h/r.git", Some("v1"), None),
            (
                "git@h:o/r.git#main:docs/a",
                "git@h:o/r.git",
                Some("main"),
                Some("docs/a"),
            ),
            (
                "https://h/r.git#:docs",
                "https://h/r.git",
                None,
                Some("docs"),
            ),
        ];
        for (source, remote, reference, subdir) in cases {
            let git = GitSource::parse(source).unwrap();
            assert_eq!(git.remote(), remote, "{source}");
            assert_eq!(git.reference.as_deref(), reference, "{source}");
            assert_eq!(git.subdir.as_deref(), subdir, "{source}");
        }
    }

    #[test]
    fn reads_the_queries_of_a_url() {
        let cases = [
            ("https://h/r.git?tag=v1", Some("refs/tags/v1"), None, None),
            (
                "https://h/r.git?branch=main&subdir=docs",
                Some("refs/heads/main"),
                Some("docs"),
                None,
            ),
            (
                "https://h/r.git?ref=pull/42/head",
                Some("pull/42/head"),
                None,
                None,
            ),
            (
                "https://h/r.git?tag=v1&checksum=66735c67",
                Some("refs/tags/v1"),
                None,
                Some("66735c67"),
            ),
            (
                "https://h/r.git?commit=66735c67",
                Some("66735c67"),
                None,
                Some("66735c67"),
            ),
            ("https://h/r.git?subdir=a#v2:a", Some("v2"), Some("a"), None),
            (
                "https://h/r.git?branch=feature%2Fx",
                Some("refs/heads/feature/x"),
                None,
                None,
            ),
        ];
        for (source, reference, subdir, checksum) in cases {
            let git = GitSource::parse(source).unwrap();
            assert_eq!(git.remote(), "https://h/r.git", "{source}");
            assert_eq!(git.reference.as_deref(), reference, "{source}");
            assert_eq!(git.subdir.as_deref(), subdir, "{source}");
            assert_eq!(git.checksum.as_deref(), checksum, "{source}");
            assert!(!git.keeps_git_dir());
        }
        assert!(
            GitSource::parse("https://h/r.git?keep-git-dir")
                .unwrap()
                .keeps_git_dir()
        );
        assert!(
            GitSource::parse("https://h/r.git?keep-git-dir=1&submodules=false")
                .unwrap()
                .keeps_git_dir()
        );
        // Not a URL: a `?` is part of the path.
        assert_eq!(
            GitSource::parse("git@h:r?x.git").unwrap().remote(),
            "git@h:r?x.git"
        );
    }

    #[test]
    fn refuses_wrong_queries() {
        for (source, reason) in [
            ("https://h/r.git?depth=1", "unexpected query `depth`"),
            ("https://h/r.git?tag=", "query `tag` has no value"),
            (
                "https://h/r.git?tag=a&tag=b",
                "query `tag` has multiple values",
            ),
            (
                "https://h/r.git?tag=a&branch=b",
                "`branch` conflicts with `tag`",
            ),
            (
                "https://h/r.git?ref=x&tag=v1",
                "ref conflicts: `x` vs `refs/tags/v1`",
            ),
            (
                "https://h/r.git?subdir=b#:a",
                "subdir conflicts: `a` vs `b`",
            ),
            (
                "https://h/r.git?keep-git-dir=maybe",
                "invalid `keep-git-dir` value `maybe`",
            ),
        ] {
            let error = GitSource::parse(source).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid git URL `{source}`: {reason}")
            );
        }
    }

    /// A server on 127.0.0.1 that accepts connections and never answers; its port.
    fn silent_server() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().collect();
            drop(held);
        });
        port
    }

    /// The message of `error` and of each of its causes, one a line.
    fn messages(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(next) = cause {
            text.push_str(&format!("\ncaused by: {next}"));
            cause = next.source();
        }
        text
    }

    // See: issue 13
    #[test]
    fn an_http_remote_that_never_answers_fails_at_the_idle_timeout() {
        let url = format!("http://127.0.0.1:{}/r.git", silent_server());
        let net = NetOptions::default().with_timeout(Duration::from_secs(1));
        let started = Instant::now();
        let error = GitSource::parse(&url)
            .expect("a git URL")
            .resolve(&net)
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        let text = messages(&error);
        assert!(
            text.starts_with(&format!("`git ls-remote` of `{url}` failed: "))
                && text.contains("Operation too slow"),
            "{text}"
        );
    }

    // See: issue 13
    #[test]
    fn a_remote_that_never_answers_is_stopped_at_the_deadline() {
        let url = format!("git://127.0.0.1:{}/r.git", silent_server());
        let net = NetOptions {
            deadline: Duration::from_secs(1),
            ..NetOptions::default()
        };
        let source = GitSource::parse(&url).expect("a git URL");
        let started = Instant::now();
        let error = source.resolve(&net).unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
        assert_eq!(
            messages(&error),
            format!(
                "`git ls-remote` of `{url}` failed after 1 attempt\n\
                 caused by: not done within the deadline of 1s"
            )
        );
        // A checkout's commands share one deadline.
        let dir = tempfile::tempdir().expect("a temp dir");
        let commit = Resolved {
            commit: "0".repeat(40),
            refname: None,
        };
        let started = Instant::now();
        let error = source
            .checkout(&commit, &dir.path().join("repo"), &net)
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        assert_eq!(
            messages(&error),
            format!(
                "`git fetch` of `{url}` failed after 1 attempt\n\
                 caused by: not done within the deadline of 1s"
            )
        );
    }
}
