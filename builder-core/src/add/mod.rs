//! What `ADD` does with a local file beyond `COPY`: recognizing tar archives and
//! extracting them into layer entries.
//!
//! [`is_archive`] tells by content, not by name, whether a file is a tar archive, plain or
//! compressed with gzip, bzip2, xz or zstd, as Docker's `ADD` decides.
//! [`extract`] reads such an archive into the [`Entry`](crate::layer::Entry) values of a
//! layer below a destination, the way `docker build` unpacks it into that directory: later
//! entries replace earlier ones, a directory over a directory merges, missing parents are
//! implied, and each entry keeps the archive's mode, owner (unless `--chown` says
//! otherwise) and mtime. Paths are resolved inside the destination as if it were the root,
//! so no name (`..`, absolute) or symlink of the archive leads outside it. File contents
//! are streamed to a staging directory that the caller provides and keeps until the layer
//! is written.
//!
//! ```
//! use mkimage_core::add::{ExtractOptions, NothingBelow, extract, is_archive};
//! use mkimage_core::layer::LayerPath;
//!
//! let dir = tempfile::tempdir()?;
//! let mut tar = tar::Builder::new(Vec::new());
//! let mut header = tar::Header::new_ustar();
//! header.set_size(3);
//! header.set_mode(0o600);
//! header.set_uid(0);
//! header.set_gid(0);
//! header.set_mtime(1_700_000_000);
//! tar.append_data(&mut header, "etc/app.conf", &b"on\n"[..])?;
//! let archive = dir.path().join("conf.tar");
//! std::fs::write(&archive, tar.into_inner()?)?;
//! std::fs::create_dir(dir.path().join("staging"))?;
//!
//! assert!(is_archive(&archive)?);
//! let dest = LayerPath::new("/srv")?;
//! let entries = extract(&archive, Some(&dest), &NothingBelow, &dir.path().join("staging"), &ExtractOptions::default())?;
//! let paths: Vec<String> = entries.iter().map(|e| format!("{} {:o}", e.path, e.mode)).collect();
//! assert_eq!(paths, ["srv/etc 755", "srv/etc/app.conf 600"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod detect;
mod error;
mod extract;

pub use detect::is_archive;
pub use error::ArchiveError;
pub(crate) use extract::extract_from;
pub use extract::{Below, ExtractOptions, NothingBelow, extract};
