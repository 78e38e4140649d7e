//! Fetching `ADD` sources from outside the build context: `http(s)://` URLs and git
//! repositories.
//!
//! [`download`] streams a URL's body into a file of a directory the caller provides (the
//! store's scratch space), hashing it as it flows: the SHA-256 is the step's cache input,
//! since a URL is fetched on every build as Docker does but an unchanged body must hit
//! the cache. A [`Checksum`] (`ADD --checksum=sha256:…`) is verified on the same pass.
//! The [`Download`] knows the name `ADD` gives the file (the last segment of the URL's
//! path) and its mtime (`Last-Modified`), and makes the layer [`Entry`](crate::layer::Entry)
//! of the file with Docker's mode `0600`. A [`GitSource`] is resolved to a commit with
//! `git ls-remote` and checked out with the `git` command. Both wait no longer than the
//! [`NetOptions`](crate::net::NetOptions) say.
//!
//! ```no_run
//! use mkimage_core::NoEvents;
//! use mkimage_core::fetch::{Checksum, download};
//! use mkimage_core::net::Http;
//!
//! let dir = tempfile::tempdir()?;
//! let checksum: Checksum =
//!     "sha256:24d4b96f58da6d4a8512313bbd02a28ebf0ca95dec6e4c86ef78ce7f01e788ac".parse()?;
//! let http = Http::default();
//! let got = download("https://example.com/app.tar.gz", dir.path(), Some(&checksum), &http, &NoEvents)?;
//! assert_eq!(got.file_name, "app.tar.gz");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checksum;
mod deadline;
mod error;
mod git;
mod http;

pub use checksum::Checksum;
pub use error::FetchError;
pub use git::{Checkout, GitSource, Resolved};
pub use http::{DOWNLOAD_MODE, Download, download, file_name};
