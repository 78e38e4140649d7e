//! Fetching a git repository source of `ADD` with the `git` command.
//!
//! The `git` CLI does the work (transports, credentials, ssh) as it does for BuildKit;
//! nothing here speaks a git protocol. [`GitSource::resolve`] runs `git ls-remote` to
//! find the commit (the step's cache input, so a cache hit clones nothing) and
//! [`GitSource::checkout`] fetches that commit (shallow when the server allows it) into
//! a new repository and checks it out.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::FetchError;

/// A git source as `ADD` takes it: `<remote>[#<ref>[:<subdir>]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    remote: String,
    reference: Option<String>,
    subdir: Option<String>,
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
}

impl GitSource {
    /// Splits `source` into the remote, the ref and the subdirectory after `#`.
    pub fn parse(source: &str) -> GitSource {
        let (remote, fragment) = match source.split_once('#') {
            Some((remote, fragment)) => (remote, Some(fragment)),
            None => (source, None),
        };
        let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
            Some((reference, subdir)) => (
                Some(reference.to_owned()).filter(|r| !r.is_empty()),
                Some(subdir.to_owned()).filter(|s| !s.is_empty()),
            ),
            None => (None, None),
        };
        GitSource {
            remote: remote.to_owned(),
            reference,
            subdir,
        }
    }

    /// The repository URL, without the fragment.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Finds the commit the source names: its ref (a branch, a tag, a full ref name;
    /// `HEAD` when none) on the remote, or the commit itself when the ref is a full hex
    /// commit id.
    ///
    /// # Errors
    ///
    /// [`FetchError::RunGit`] when `git` cannot run, [`FetchError::Git`] when
    /// `ls-remote` fails, [`FetchError::GitRefNotFound`] when the remote lacks the ref.
    pub fn resolve(&self) -> Result<Resolved, FetchError> {
        let reference = self.reference.as_deref().unwrap_or("HEAD");
        let is_hex = reference.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex && matches!(reference.len(), 40 | 64) {
            return Ok(Resolved {
                commit: reference.to_ascii_lowercase(),
                refname: None,
            });
        }
        let listed = self.git(None, &["ls-remote", "--", &self.remote])?;
        let refs: Vec<(&str, &str)> = listed
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect();
        let candidates = [
            reference.to_owned(),
            format!("refs/tags/{reference}^{{}}"),
            format!("refs/tags/{reference}"),
            format!("refs/heads/{reference}"),
        ];
        for candidate in &candidates {
            if let Some((commit, _)) = refs.iter().find(|(_, name)| name == candidate) {
                let refname = candidate.strip_suffix("^{}").unwrap_or(candidate);
                return Ok(Resolved {
                    commit: (*commit).to_owned(),
                    refname: Some(refname.to_owned()),
                });
            }
        }
        Err(FetchError::GitRefNotFound {
            remote: self.remote.clone(),
            reference: reference.to_owned(),
        })
    }

    /// Fetches `resolved` into a new repository at `dir` (which must not exist) and
    /// checks it out.
    ///
    /// # Errors
    ///
    /// [`FetchError::RunGit`] when `git` cannot run, [`FetchError::Git`] when a `git`
    /// command fails, [`FetchError::GitSubdir`] when the subdirectory is not a directory
    /// of the commit or leaves it.
    pub fn checkout(&self, resolved: &Resolved, dir: &Path) -> Result<Checkout, FetchError> {
        let dir_arg = dir.to_string_lossy().into_owned();
        self.git(None, &["init", "-q", &dir_arg])?;
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
        if self.git(Some(dir), &shallow).is_err() {
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
            self.git(Some(dir), args)?;
        }
        self.git(
            Some(dir),
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                &resolved.commit,
            ],
        )?;
        let time = self.git(Some(dir), &["log", "-1", "--format=%ct", &resolved.commit])?;
        let commit_time = time.trim().parse().unwrap_or(0);
        let root = match &self.subdir {
            None => dir.to_owned(),
            Some(subdir) => {
                let inside = Path::new(subdir)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                let root = dir.join(subdir);
                // `symlink_metadata`: a subdirectory that is a symlink could lead anywhere.
                let is_dir = std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir());
                if !inside || !is_dir {
                    return Err(FetchError::GitSubdir {
                        remote: self.remote.clone(),
                        subdir: subdir.clone(),
                    });
                }
                root
            }
        };
        Ok(Checkout { root, commit_time })
    }

    /// Runs `git ARGS` (in `dir`, if given) without prompting for credentials; returns
    /// its stdout.
    fn git(&self, dir: Option<&Path>, args: &[&str]) -> Result<String, FetchError> {
        let mut command = Command::new("git");
        if let Some(dir) = dir {
            command.arg("-C").arg(dir);
        }
        let output = command
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|source| FetchError::RunGit {
                command: args.first().copied().unwrap_or_default().to_owned(),
                source,
            })?;
        if !output.status.success() {
            return Err(FetchError::Git {
                remote: self.remote.clone(),
                command: args
                    .iter()
                    .find(|a| !a.starts_with('-') && **a != "advice.detachedHead=false")
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
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
            let git = GitSource::parse(source);
            assert_eq!(git.remote(), remote, "{source}");
            assert_eq!(git.reference.as_deref(), reference, "{source}");
            assert_eq!(git.subdir.as_deref(), subdir, "{source}");
        }
    }
}
