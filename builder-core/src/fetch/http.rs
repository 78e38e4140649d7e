//! Downloading an `http(s)://` source of `ADD`.

use std::fs::File;
use std::io::{self, Read, Seek as _, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::Digest;
use sha2::Digest as _;
use tempfile::NamedTempFile;

use super::checksum::Hasher;
use super::{Checksum, FetchError};
use crate::digest::digest_of;
use crate::events::{Events, RequestRef, TaskRef};
use crate::layer::{Content, Entry, EntryKind, LayerPath};
use crate::net::{Attempts, Failure, Http, NetOptions, Watch};

/// The mode of a downloaded file in the image, as Docker gives it.
pub const DOWNLOAD_MODE: u32 = 0o600;

/// The name of a download whose URL path has no last segment, as BuildKit names it.
const UNNAMED: &str = "__unnamed__";

/// The size of the buffer a body is streamed through.
const BUFFER: usize = 64 * 1024;

/// A URL's body, downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The file holding the body, in the directory given to [`download`].
    pub path: PathBuf,
    /// The name `ADD` gives the file below a directory destination: see [`file_name`].
    pub file_name: String,
    /// The SHA-256 of the body: what the step's cache key depends on.
    pub digest: Digest,
    /// The body's size in bytes.
    pub size: u64,
    /// The `Last-Modified` header, seconds since the epoch, when the server sent a valid
    /// one.
    pub last_modified: Option<i64>,
}

impl Download {
    /// The layer entry of the downloaded file at `path`: mode `0600`, owned by root, mtime
    /// from `Last-Modified` or else `fallback_mtime` (Docker uses the time of the
    /// download; a reproducible build passes its `SOURCE_DATE_EPOCH`).
    pub fn entry(&self, path: LayerPath, fallback_mtime: i64) -> Entry {
        Entry::new(path, EntryKind::File(Content::Host(self.path.clone())))
            .with_mode(DOWNLOAD_MODE)
            .with_mtime(self.last_modified.unwrap_or(fallback_mtime))
    }
}

/// The name `ADD` gives a download of `url` below a directory destination: the last
/// segment of the URL's path, percent-decoded (`https://h/a/b%20c.tar?x=1` gives
/// `b c.tar`), or `__unnamed__` when there is none, as BuildKit's Dockerfile frontend
/// names it.
pub fn file_name(url: &str) -> String {
    // Scheme and authority end at the first `/` after `//`; query and fragment start at
    // `?` or `#`.
    let after_scheme = url.split_once("//").map_or(url, |(_, rest)| rest);
    let path = match after_scheme.find(['/', '?', '#']) {
        Some(start) if after_scheme[start..].starts_with('/') => &after_scheme[start..],
        _ => "",
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    match decoded.trim_end_matches('/').rsplit('/').next() {
        None | Some("" | "." | "..") => UNNAMED.to_owned(),
        Some(name) => name.to_owned(),
    }
}

/// Downloads `url` (`http://` or `https://`, redirects followed, proxies from the
/// environment) with `http` into a new file of the directory `dir`, streaming and
/// hashing the body, and checks it against `checksum` when one is given. Progress goes
/// to `events` as a task named `download <url>`, with the waits and retries of the
/// request.
///
/// A try that times out, breaks or meets a server error (5xx) is made again from the
/// start, within `http`'s retries and deadline.
///
/// # Errors
///
/// [`FetchError::Net`] when no try got the whole body, [`FetchError::HttpStatus`] for a
/// status other than 2xx and 5xx, [`FetchError::WriteDownload`] when `dir` cannot be
/// written, [`FetchError::ChecksumMismatch`] when the body is not what `checksum` says.
/// No file is left behind.
pub fn download(
    url: &str,
    dir: &Path,
    checksum: Option<&Checksum>,
    http: &Http,
    events: &dyn Events,
) -> Result<Download, FetchError> {
    let write_err = |source| FetchError::WriteDownload {
        url: url.to_owned(),
        path: dir.to_owned(),
        source,
    };
    // Removed when dropped, unless kept at the end.
    let mut temp = tempfile::Builder::new()
        .prefix("download-")
        .tempfile_in(dir)
        .map_err(write_err)?;
    let got = Watch::run(events, http.options().notice(), |watch| {
        let label = format!("download of `{url}`");
        let mut attempts = Attempts::new(http, watch, RequestRef { label });
        let mut task = Shown {
            events,
            task: TaskRef {
                label: format!("download {url}"),
            },
            started: false,
        };
        fetch(url, &mut temp, checksum, &mut attempts, &mut task)
    })?;
    temp.keep().map_err(|e| write_err(e.error))?;
    Ok(Download {
        file_name: file_name(url),
        ..got
    })
}

/// The tries of [`download`]: the body of `url` in `temp`, and what is known of it
/// (its path and name left for the caller to fill in).
fn fetch(
    url: &str,
    temp: &mut NamedTempFile,
    checksum: Option<&Checksum>,
    attempts: &mut Attempts<'_>,
    task: &mut Shown<'_>,
) -> Result<Download, FetchError> {
    let options = attempts.options();
    loop {
        let mut response = attempts.execute(|agent| agent.get(url).call(), |_| String::new())?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::HttpStatus {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let last_modified = header("last-modified").and_then(|value| parse_http_date(&value));
        let total = header("content-length").and_then(|value| value.parse::<u64>().ok());
        task.start(total);
        let path = temp.path().to_owned();
        let file = temp.as_file_mut();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .map_err(|source| FetchError::WriteDownload {
                url: url.to_owned(),
                path: path.clone(),
                source,
            })?;
        let pulse = attempts.pulse();
        let body = response.body_mut().as_reader();
        let copied = copy_body(url, body, file, &path, checksum, options, |done| {
            pulse.beat();
            task.progress(done);
        })?;
        let (digest, size, actual) = match copied {
            Ok(copied) => copied,
            Err(failure) => {
                attempts.retry(failure)?;
                continue;
            }
        };
        if let (Some(expected), Some(actual)) = (checksum, actual)
            && *expected != actual
        {
            return Err(FetchError::ChecksumMismatch {
                url: url.to_owned(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        return Ok(Download {
            path,
            file_name: String::new(),
            digest,
            size,
            last_modified,
        });
    }
}

/// The task of a download, started by the first answer and finished when dropped.
struct Shown<'e> {
    events: &'e dyn Events,
    task: TaskRef,
    started: bool,
}

impl Shown<'_> {
    /// Starts the task, of `total` bytes, unless an earlier try did; a retry starts over.
    fn start(&mut self, total: Option<u64>) {
        if self.started {
            self.events.task_progress(&self.task, 0);
        } else {
            self.events.task_started(&self.task, total);
            self.started = true;
        }
    }

    /// `done` bytes are in.
    fn progress(&self, done: u64) {
        self.events.task_progress(&self.task, done);
    }
}

impl Drop for Shown<'_> {
    fn drop(&mut self) {
        if self.started {
            self.events.task_finished(&self.task);
        }
    }
}

/// What [`copy_body`] got: the SHA-256, the size and, when a checksum is expected, the
/// digest in its algorithm; or the failure of the network that cut it short.
type Copied = Result<(Digest, u64, Option<Checksum>), Failure>;

/// Streams `body` into `file`, hashing it.
///
/// # Errors
///
/// [`FetchError::WriteDownload`] when `file` cannot be written.
fn copy_body(
    url: &str,
    mut body: impl Read,
    file: &mut File,
    path: &Path,
    checksum: Option<&Checksum>,
    options: &NetOptions,
    progress: impl Fn(u64),
) -> Result<Copied, FetchError> {
    let write_err = |source| FetchError::WriteDownload {
        url: url.to_owned(),
        path: path.to_owned(),
        source,
    };
    let mut sha256 = sha2::Sha256::new();
    let mut other: Option<Hasher> = checksum.map(Checksum::hasher);
    let mut buffer = vec![0; BUFFER];
    let mut size = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(Failure::from_io(e, options))),
        };
        let chunk = &buffer[..n];
        file.write_all(chunk).map_err(write_err)?;
        sha256.update(chunk);
        if let Some(other) = &mut other {
            other.update(chunk);
        }
        size += n as u64;
        progress(size);
    }
    file.sync_all().map_err(write_err)?;
    Ok(Ok((digest_of(sha256), size, other.map(Hasher::finish))))
}

/// Seconds since the epoch of an HTTP date (the three formats HTTP allows, as Go's
/// `http.ParseTime`), `None` for anything else.
fn parse_http_date(value: &str) -> Option<i64> {
    let time = httpdate::parse_http_date(value).ok()?;
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok(),
        Err(before) => i64::try_from(before.duration().as_secs()).ok().map(|s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_after_the_last_path_segment() {
        let cases = [
            ("https://example.com/dl/app-1.0.tar.gz", "app-1.0.tar.gz"),
            ("http://example.com/a/b%20c.txt?token=x#frag", "b c.txt"),
            ("http://example.com/dir/", "dir"),
            ("http://example.com/a%2Fb", "b"),
            ("http://example.com", "__unnamed__"),
            ("http://example.com/", "__unnamed__"),
            ("http://example.com/..", "__unnamed__"),
            ("http://example.com?q=/x", "__unnamed__"),
        ];
        for (url, name) in cases {
            assert_eq!(file_name(url), name, "{url}");
        }
    }

    #[test]
    fn parses_the_three_http_date_formats() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(value), Some(784_111_777), "{value}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
