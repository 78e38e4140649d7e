//! Telling a tar archive and its compression by content, as Docker's `ADD` does.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::ArchiveError;

/// How an archive is compressed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// No compression recognized: a plain tar, if anything.
    Tar,
    /// Gzip (`1f 8b 08`).
    Gzip,
    /// Bzip2 (`BZh`).
    Bzip2,
    /// Xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// Zstandard (`28 b5 2f fd`, or a skippable frame).
    Zstd,
}

impl ArchiveFormat {
    /// The format whose magic number `head` starts with; [`ArchiveFormat::Tar`] for none.
    /// These are the magic numbers Docker's `DecompressStream` checks.
    pub fn sniff(head: &[u8]) -> ArchiveFormat {
        let skippable_zstd =
            head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
        if head.starts_with(&[0x1f, 0x8b, 0x08]) {
            ArchiveFormat::Gzip
        } else if head.starts_with(b"BZh") {
            ArchiveFormat::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            ArchiveFormat::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || skippable_zstd {
            ArchiveFormat::Zstd
        } else {
            ArchiveFormat::Tar
        }
    }
}

/// Whether the file at `path` is a tar archive that `ADD` extracts: a regular file (not
/// followed if a symlink) whose content, once decompressed as its magic number says, starts
/// with a valid tar header. An empty file, a tar of zeros or a corrupt stream is not one,
/// as in Docker.
///
/// # Errors
///
/// [`ArchiveError::ReadArchive`] when the file cannot be opened or its first bytes read.
pub fn is_archive(path: &Path) -> Result<bool, ArchiveError> {
    let read_err = |source| ArchiveError::ReadArchive {
        path: path.to_owned(),
        source,
    };
    if !fs::symlink_metadata(path).map_err(read_err)?.is_file() {
        return Ok(false);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(read_err)?;
    reads_as_tar(file).map_err(read_err)
}

/// Whether the content of `file`, decompressed as its magic number says, starts with a
/// valid tar header (see [`is_archive`]).
pub(crate) fn reads_as_tar(file: impl Read) -> std::io::Result<bool> {
    let mut archive = tar::Archive::new(decompress(BufReader::new(file))?);
    // Reading the first header fails for anything but a tar; that is the answer, not an
    // error (Docker copies such a file as it is).
    let Ok(mut entries) = archive.entries() else {
        return Ok(false);
    };
    Ok(matches!(entries.next(), Some(Ok(_))))
}

/// The stream inside `reader`, decompressed as its first bytes say (gzip, bzip2, xz or
/// zstd, as Docker's `DecompressStream`), or `reader` itself when they name none.
///
/// # Errors
///
/// When the first bytes cannot be read or the zstd decoder cannot be set up.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> std::io::Result<Box<dyn Read + 'a>> {
    // One read is enough: a file, or a pipe holding at least a few bytes, returns the 6
    // magic bytes from its first read.
    let format = ArchiveFormat::sniff(reader.fill_buf()?);
    Ok(match format {
        ArchiveFormat::Tar => Box::new(reader),
        ArchiveFormat::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        ArchiveFormat::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
        ArchiveFormat::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(reader)),
        ArchiveFormat::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_docker_magic_numbers() {
        assert_eq!(
            ArchiveFormat::sniff(&[0x1f, 0x8b, 8, 0]),
            ArchiveFormat::Gzip
        );
        assert_eq!(ArchiveFormat::sniff(b"BZh91AY"), ArchiveFormat::Bzip2);
        assert_eq!(
            ArchiveFormat::sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            ArchiveFormat::Xz
        );
        assert_eq!(
            ArchiveFormat::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            ArchiveFormat::Zstd
        );
        assert_eq!(
            ArchiveFormat::sniff(&[0x5a, 0x2a, 0x4d, 0x18]),
            ArchiveFormat::Zstd
        );
        assert_eq!(ArchiveFormat::sniff(b"etc/"), ArchiveFormat::Tar);
        assert_eq!(ArchiveFormat::sniff(&[0x1f, 0x8b]), ArchiveFormat::Tar);
    }
}
