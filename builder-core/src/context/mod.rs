//! The build context: `.dockerignore`, the sources a `COPY`/`ADD` selects, and content
//! digests of what it selects.
//!
//! A [`Context`] is a host directory (given, or [extracted](extract) from a tar stream)
//! with the [`Patterns`] of its ignore file. [`Context::select`] resolves the sources of
//! one `COPY`/`ADD` into a [`Selection`]: what each source matched, whose entries
//! (with their metadata, paths relative to the destination) are walked in layer order
//! each time they are read, so that memory does not grow with the number of files.
//! [`Selection::place`] maps them to image paths for a [`Destination`].
//! [`Selection::digest`] gives the content digest of a selection for cache keys, reading
//! only the files whose metadata [`FileHashes`] does not know.
//!
//! The directory is opened once and every path in it is reached through that descriptor,
//! never by joining it onto the host path: sources are resolved component by component
//! from directory descriptors (symlinks read and followed by the context's rules, not
//! the host's), walks hold the descriptors of the directories they are in, and files are
//! read through the root by the path a walk found, through no symlink. A tree changed
//! while a build reads it (a stage's tree by a parallel `RUN`, the context by another
//! process) makes the read fail, never leads it out of the directory.
//!
//! ```
//! use mkimage_core::context::{Context, Destination, SelectOptions};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("src"))?;
//! std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n")?;
//! std::fs::write(dir.path().join("src/notes.md"), "draft\n")?;
//! std::fs::write(dir.path().join(".dockerignore"), "**/*.md\n")?;
//!
//! let context = Context::open(dir.path(), None)?;
//! let selection = context.select(&["src"], &SelectOptions::default())?;
//! let dest = Destination::new("app/", "/srv")?;
//! let entries = selection.place(&dest, false)?;
//! let paths: Vec<String> = entries.iter().map(|e| e.path.to_string()).collect();
//! assert_eq!(paths, ["srv/app/main.rs"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dest;
mod digest;
mod error;
pub(crate) mod glob;
mod hashes;
pub(crate) mod patterns;
mod select;
mod walk;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::Stat;

pub use dest::Destination;
pub use digest::CopiedDigest;
pub use error::ContextError;
pub use hashes::FileHashes;
pub use patterns::Patterns;
pub use select::{Matched, SelectOptions, Selection};

use crate::fsroot::Root;
use crate::layer::{self, LayerPath};

/// The name of the ignore file at the context root.
pub const IGNORE_FILE: &str = ".dockerignore";

/// The most bytes an ignore file may hold, as a Dockerfile: it is read whole.
pub const IGNORE_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// A build context: a host directory and what its ignore file excludes.
#[derive(Debug, Clone)]
pub struct Context {
    /// Canonical, so that absolute symlink targets can be compared with it.
    root: PathBuf,
    /// The directory, open: every path of the context is reached through it.
    tree: Arc<Root>,
    ignore: Patterns,
    ignore_file: Option<PathBuf>,
    /// What the directory holds. In an unpacked image (a stage's or an image's), an
    /// absolute symlink target is taken from the directory and `..` stops at it, as
    /// inside a container.
    origin: Origin,
    /// Whether the directory was extracted from a stream for this build.
    streamed: bool,
}

/// What the directory of a [`Context`] holds, as errors about its sources name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The build context.
    Context,
    /// A checked-out git repository that `ADD` reads, by its remote.
    Git(String),
    /// The filesystem of an earlier stage (`COPY --from=NAME`), by its name.
    Stage(String),
    /// The filesystem of an image (`COPY --from=REF`), by its reference as written.
    Image(String),
}

impl Origin {
    /// Whether the directory is an unpacked image: a stage's or an image's.
    fn is_image(&self) -> bool {
        matches!(self, Origin::Stage(_) | Origin::Image(_))
    }
}

impl std::fmt::Display for Origin {
    /// `the build context`, `stage `build``, `image `alpine:3``.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Context => f.write_str("the build context"),
            Origin::Git(remote) => write!(f, "the git repository `{remote}`"),
            Origin::Stage(name) => write!(f, "stage `{name}`"),
            Origin::Image(reference) => write!(f, "image `{reference}`"),
        }
    }
}

/// A regular file of the context: where it is, and what identifies its content on the
/// host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    /// The path relative to the context root.
    pub source: LayerPath,
    /// Size in bytes.
    pub size: u64,
    /// Device number; with the inode number, what hard links of one file share.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time in nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Whether the entry's `xattrs` are the file's. A walk leaves them unread, as a
    /// `listxattr` per file would cost as much as the walk itself: [`Selection::digest`]
    /// fills them in (from [`FileHashes`] when the file is unchanged), and
    /// [`Selection::place`] leaves those still missing to the layer writer
    /// ([`TreeFile::reads_xattrs`](crate::layer::TreeFile::reads_xattrs)).
    pub xattrs_read: bool,
}

impl HostFile {
    fn new(source: LayerPath, stat: &Stat) -> HostFile {
        // The casts widen or keep the kernel's types (`st_size` is never negative).
        HostFile {
            source,
            size: stat.st_size as u64,
            dev: stat.st_dev,
            ino: stat.st_ino,
            nlink: stat.st_nlink,
            mtime_ns: stat.st_mtime * 1_000_000_000 + stat.st_mtime_nsec as i64,
            ctime_ns: stat.st_ctime * 1_000_000_000 + stat.st_ctime_nsec as i64,
            xattrs_read: false,
        }
    }
}

/// Opens the regular file `path` of the directory `dir`, resolved inside `dir` as if it
/// were the root: the Dockerfile of a build context fetched from elsewhere (a git
/// repository, a tarball), whose symlinks must not lead out of it. Anything but a regular
/// file (a FIFO would block) is refused.
///
/// # Errors
///
/// `dir` or the file cannot be opened, or the file is no regular file
/// ([`io::ErrorKind::InvalidInput`]).
pub fn open_in(dir: &Path, path: &Path) -> io::Result<fs::File> {
    Root::open(dir)?.open_file(path)
}

/// The ignore file at `path`, opened as `opened`, read whole; `None` when it is missing.
fn read_ignore_file(
    path: PathBuf,
    opened: io::Result<fs::File>,
) -> Result<Option<(PathBuf, Vec<u8>)>, ContextError> {
    let read = opened.and_then(|file| {
        let mut bytes = Vec::new();
        file.take(IGNORE_FILE_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
    });
    match read {
        Ok(bytes) if bytes.len() as u64 > IGNORE_FILE_LIMIT => {
            Err(ContextError::IgnoreFileTooLarge {
                path,
                limit: IGNORE_FILE_LIMIT,
            })
        }
        Ok(bytes) => Ok(Some((path, bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ContextError::ReadIgnoreFile { path, source }),
    }
}

impl Context {
    /// Opens the context directory `dir`. Its ignore patterns come from
    /// `<dockerfile>.dockerignore` when that file exists next to the Dockerfile (which may
    /// lie outside the context; inside it, the file is resolved inside it), else from `.dockerignore` at the root, else there are
    /// none. Pass `None` for a Dockerfile that is not a file (read from stdin).
    ///
    /// # Errors
    ///
    /// [`ContextError::OpenContext`] when `dir` is not a readable directory,
    /// [`ContextError::ReadIgnoreFile`] and [`ContextError::IgnorePattern`] for the
    /// ignore file.
    pub fn open(dir: impl AsRef<Path>, dockerfile: Option<&Path>) -> Result<Context, ContextError> {
        let dir = dir.as_ref();
        let open_err = |source| ContextError::OpenContext {
            path: dir.to_owned(),
            source,
        };
        let root = fs::canonicalize(dir).map_err(open_err)?;
        let tree = Arc::new(Root::open(&root).map_err(open_err)?);
        let beside = dockerfile.map(|dockerfile| {
            let mut name = dockerfile.as_os_str().to_owned();
            name.push(IGNORE_FILE);
            PathBuf::from(name)
        });
        // The one beside a Dockerfile outside the context is a host path the caller gave;
        // the one beside a Dockerfile inside it (a fetched context's too) and the one at
        // its root are resolved inside it.
        let in_tree = |path: &Path| read_ignore_file(tree.shown(path), tree.open_file(path));
        let beside = match beside {
            Some(path) => match path.strip_prefix(dir) {
                Ok(inside) => in_tree(inside)?,
                Err(_) => read_ignore_file(path.clone(), fs::File::open(&path))?,
            },
            None => None,
        };
        let found = match beside {
            Some(found) => Some(found),
            None => in_tree(Path::new(IGNORE_FILE))?,
        };
        let (ignore, ignore_file) = match found {
            Some((path, bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                let ignore = Patterns::parse_ignore_file(&text).map_err(|bad| {
                    ContextError::IgnorePattern {
                        path: path.clone(),
                        pattern: bad.0,
                    }
                })?;
                (ignore, Some(path))
            }
            None => (Patterns::default(), None),
        };
        Ok(Context {
            root,
            tree,
            ignore,
            ignore_file,
            origin: Origin::Context,
            streamed: false,
        })
    }

    /// Opens `dir` as a context without ignore patterns: its own `.dockerignore`, if any,
    /// is just a file. `origin` says what `dir` holds: a checked-out git source that `ADD`
    /// reads, or an unpacked image that a `COPY --from` reads, where symlinks resolve as
    /// inside a container: an absolute target from `dir`, `..` stopping at `dir`.
    ///
    /// # Errors
    ///
    /// [`ContextError::OpenContext`] when `dir` is not a readable directory.
    pub fn without_ignore_file(
        dir: impl AsRef<Path>,
        origin: Origin,
    ) -> Result<Context, ContextError> {
        let dir = dir.as_ref();
        let open_err = |source| ContextError::OpenContext {
            path: dir.to_owned(),
            source,
        };
        let root = fs::canonicalize(dir).map_err(open_err)?;
        let tree = Arc::new(Root::open(&root).map_err(open_err)?);
        Ok(Context {
            root,
            tree,
            ignore: Patterns::default(),
            ignore_file: None,
            origin,
            streamed: false,
        })
    }

    /// Marks the context as [extracted](extract) from a stream (`mkimage build -`) into a
    /// directory made for this build: the directory names no project, so what a build
    /// keeps per context directory (the lineage of layers to reuse, the metadata cache of
    /// file digests) is not keyed by it.
    #[must_use]
    pub fn streamed(self) -> Context {
        Context {
            streamed: true,
            ..self
        }
    }

    /// Whether the context was [extracted from a stream](Context::streamed).
    pub fn is_streamed(&self) -> bool {
        self.streamed
    }

    /// The context directory, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the ignore file excludes.
    pub fn ignore(&self) -> &Patterns {
        &self.ignore
    }

    /// The ignore file in use, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }
}

/// Extracts a context sent as a tar stream (`mkimage build -`), plain or compressed with
/// gzip, bzip2, xz or zstd, into the directory `dir`, which the caller provides (empty)
/// and then [opens](Context::open).
///
/// No entry is written outside `dir`, whatever its name, hard link or the symlinks before
/// it say. Owners are kept only when running as root. As in a layer, a `.wh.` name is a
/// whiteout and removes an earlier entry of the same stream.
///
/// # Errors
///
/// [`ContextError::ExtractContext`] for a malformed stream, an entry that leaves `dir` or
/// a file that cannot be written.
pub fn extract(tar: impl Read, dir: &Path) -> Result<(), ContextError> {
    let extract_err = |source| ContextError::ExtractContext { source };
    let tar = crate::archive::decompress(std::io::BufReader::new(tar))
        .map_err(|source| extract_err(layer::LayerError::ReadBlob { source }))?;
    layer::unpack(tar, dir).map_err(extract_err)?;
    Ok(())
}
