//! Layers: deterministic tar writing, compression and digests in one pass; reading,
//! unpacking with whiteouts; diffs of a filesystem.
//!
//! A layer is a change set: a list of [`Entry`] values, one per path, each a file,
//! directory, link, device, [whiteout](EntryKind::Whiteout) or
//! [opaque marker](EntryKind::Opaque). [`LayerWriter`] (or [`write_layer`], which sorts)
//! turns entries into a tar, compresses it ([`Compression`]) and writes the blob to any
//! `io::Write`, computing the `diff_id` and the `digest` as the bytes flow past; the caller
//! connects the sink to a store blob.
//!
//! ```
//! use mkimage_core::layer::{Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer};
//!
//! let hello = Entry::new(LayerPath::new("/app/hello.txt")?, EntryKind::File(Content::Bytes(b"hi\n".to_vec())))
//!     .with_mode(0o644)
//!     .with_mtime(1_700_000_000);
//! let app = Entry::new(LayerPath::new("app")?, EntryKind::Dir);
//! let options = LayerOptions { compression: Compression::Gzip { level: 6 }, ..LayerOptions::default() };
//! let (blob, layer) = write_layer(Vec::new(), vec![hello, app], &options)?;
//! assert_eq!(layer.size, blob.len() as u64);
//! assert_eq!(layer.media_type.to_string(), "application/vnd.oci.image.layer.v1.tar+gzip");
//! # Ok::<(), mkimage_core::layer::LayerError>(())
//! ```

mod compression;
mod compressor;
mod entry;
mod error;
mod gzip_member;
mod header;
mod host;
mod list;
mod noise;
mod path;
mod reuse;
mod snapshot;
mod tree_file;
mod unpack;
mod upper;
mod workers;
mod writer;
mod zstd_frames;

pub use compression::{Codec, Compression, decompress};
pub use entry::{Content, Entry, EntryKind};
pub use error::LayerError;
pub use host::{OverlayXattrs, dir_entries};
pub(crate) use host::{
    Scanned, host_entry, open_tree, read_file_xattrs, read_xattrs, stat_entry, stat_kind,
};
pub(crate) use list::decode;
pub use list::list;
pub use path::LayerPath;
pub use reuse::{ChunkIndex, Reuse};
pub use snapshot::Snapshot;
pub use tree_file::TreeFile;
pub use unpack::{OverlayFormat, SkipReason, Skipped, Unpacked, unpack, unpack_overlay};
pub use upper::{UpperLayer, write_upper};
pub use writer::{CopiedContent, LayerOptions, LayerWriter, WrittenLayer, write_layer};
