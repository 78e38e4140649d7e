//! Tar streams and their compression, told by content as Docker tells them: the
//! [`Encoding`] a stream's first bytes show, the stream [`decompress`]ed, and whether it
//! holds a tar. `ADD` decides with these which local files to extract, image archives
//! (`oci-archive:`, `docker-archive:`) and context streams are read through them.

use std::io::{BufRead, BufReader, Read};

/// How a stream is compressed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
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

impl Encoding {
    /// The format whose magic number `head` starts with; [`Encoding::Tar`] for none.
    /// These are the magic numbers Docker's `DecompressStream` checks.
    pub fn sniff(head: &[u8]) -> Encoding {
        let skippable_zstd =
            head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
        if head.starts_with(&[0x1f, 0x8b, 0x08]) {
            Encoding::Gzip
        } else if head.starts_with(b"BZh") {
            Encoding::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Encoding::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || skippable_zstd {
            Encoding::Zstd
        } else {
            Encoding::Tar
        }
    }
}

/// Whether the content of `file`, decompressed as its magic number says, starts with a
/// valid tar header, as Docker's `ADD` decides whether to extract a file. An empty
/// stream, a tar of zeros or a corrupt stream is not one.
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
    let format = Encoding::sniff(reader.fill_buf()?);
    Ok(match format {
        Encoding::Tar => Box::new(reader),
        Encoding::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Encoding::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
        Encoding::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(reader)),
        Encoding::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

/// Whether a stream that starts with `head` is a tar stream: compressed (the tar inside
/// is checked when it is read), or plain with the `ustar` magic of a tar header.
pub(crate) fn starts_like_tar(head: &[u8]) -> bool {
    Encoding::sniff(head) != Encoding::Tar || head.get(257..262) == Some(b"ustar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_docker_magic_numbers() {
        assert_eq!(Encoding::sniff(&[0x1f, 0x8b, 8, 0]), Encoding::Gzip);
        assert_eq!(Encoding::sniff(b"BZh91AY"), Encoding::Bzip2);
        assert_eq!(
            Encoding::sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Encoding::Xz
        );
        assert_eq!(Encoding::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Encoding::Zstd);
        assert_eq!(Encoding::sniff(&[0x5a, 0x2a, 0x4d, 0x18]), Encoding::Zstd);
        assert_eq!(Encoding::sniff(b"etc/"), Encoding::Tar);
        assert_eq!(Encoding::sniff(&[0x1f, 0x8b]), Encoding::Tar);
    }

    #[test]
    fn a_tar_stream_starts_with_a_ustar_header_or_a_compression() -> std::io::Result<()> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        tar.append_data(&mut header, "Dockerfile", std::io::empty())?;
        let tar = tar.into_inner()?;
        assert!(starts_like_tar(&tar));
        assert!(reads_as_tar(&tar[..])?);
        assert!(starts_like_tar(&[0x28, 0xb5, 0x2f, 0xfd]));
        assert!(!starts_like_tar(b"FROM scratch\n"));
        assert!(!reads_as_tar(&b"FROM scratch\n"[..])?);
        Ok(())
    }
}
