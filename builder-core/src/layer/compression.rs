//! Layer compression formats, their media types, and decoders.

use std::io::{BufRead, BufReader, Read};

use oci_spec::image::MediaType;

use super::LayerError;

/// How a layer blob is compressed when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Gzip (`application/vnd.oci.image.layer.v1.tar+gzip`), level 0–9.
    Gzip {
        /// Deflate level, 0 (store) to 9 (best).
        level: u32,
    },
    /// Zstandard (`application/vnd.oci.image.layer.v1.tar+zstd`), level 1–22.
    Zstd {
        /// Zstandard level.
        level: i32,
    },
    /// No compression (`application/vnd.oci.image.layer.v1.tar`): the blob is the tar.
    Uncompressed,
}

impl Default for Compression {
    /// Gzip at level 6, as `docker build` writes.
    fn default() -> Self {
        Compression::Gzip { level: 6 }
    }
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> MediaType {
        match self {
            Compression::Gzip { .. } => MediaType::ImageLayerGzip,
            Compression::Zstd { .. } => MediaType::ImageLayerZstd,
            Compression::Uncompressed => MediaType::ImageLayer,
        }
    }

    /// The format, without the level.
    pub fn codec(&self) -> Codec {
        match self {
            Compression::Gzip { .. } => Codec::Gzip,
            Compression::Zstd { .. } => Codec::Zstd,
            Compression::Uncompressed => Codec::None,
        }
    }
}

/// The compression format of a layer blob, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Gzip, possibly several concatenated members.
    Gzip,
    /// Zstandard, possibly several concatenated frames.
    Zstd,
    /// A plain tar.
    None,
}

impl Codec {
    /// The format of a layer of this media type: OCI layer types (distributable or not)
    /// and Docker's `rootfs.diff.tar[.gzip]` types.
    ///
    /// # Errors
    ///
    /// [`LayerError::UnknownMediaType`] for anything else.
    pub fn from_media_type(media_type: &str) -> Result<Codec, LayerError> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar" => Ok(Codec::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Codec::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Ok(Codec::Zstd),
            other => Err(LayerError::UnknownMediaType {
                media_type: other.to_owned(),
            }),
        }
    }

    /// The format that the first bytes of a blob show (gzip and zstd magic numbers),
    /// [`Codec::None`] otherwise. Used for docker archives, whose layers have no media type.
    pub fn sniff(head: &[u8]) -> Codec {
        if head.starts_with(&[0x1f, 0x8b]) {
            Codec::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Codec::Zstd
        } else {
            Codec::None
        }
    }

    /// A reader of the tar inside `blob`.
    ///
    /// # Errors
    ///
    /// [`LayerError::ReadBlob`] when the zstd decoder cannot be set up.
    pub fn decoder<'a, R: Read + 'a>(self, blob: R) -> Result<Box<dyn Read + 'a>, LayerError> {
        Ok(match self {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
            Codec::Zstd => Box::new(
                zstd::stream::read::Decoder::new(blob)
                    .map_err(|source| LayerError::ReadBlob { source })?,
            ),
            Codec::None => Box::new(blob),
        })
    }
}

/// A reader of the tar inside `blob`, its format taken from `media_type` or, when that is
/// `None`, sniffed from the first bytes.
///
/// # Errors
///
/// [`LayerError::UnknownMediaType`] for a media type that is not a layer,
/// [`LayerError::ReadBlob`] when the first bytes cannot be read.
pub fn decompress<'a, R: Read + 'a>(
    blob: R,
    media_type: Option<&str>,
) -> Result<Box<dyn Read + 'a>, LayerError> {
    match media_type {
        Some(media_type) => Codec::from_media_type(media_type)?.decoder(blob),
        None => {
            // One read is enough: every source we sniff (a file, a tar entry) returns at
            // least the 4 magic bytes from its first read.
            let mut blob = BufReader::new(blob);
            let head = blob
                .fill_buf()
                .map_err(|source| LayerError::ReadBlob { source })?;
            let codec = Codec::sniff(head);
            codec.decoder(blob)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_to_codecs() -> Result<(), LayerError> {
        assert_eq!(
            Codec::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip")?,
            Codec::Gzip
        );
        assert_eq!(
            Codec::from_media_type(Compression::Zstd { level: 3 }.media_type().as_ref())?,
            Codec::Zstd
        );
        assert_eq!(
            Compression::Uncompressed.media_type().to_string(),
            "application/vnd.oci.image.layer.v1.tar"
        );
        assert_eq!(
            Codec::from_media_type("text/plain")
                .unwrap_err()
                .to_string(),
            "media type `text/plain` is not a layer"
        );
        Ok(())
    }

    #[test]
    fn sniffs_magic_numbers() {
        assert_eq!(Codec::sniff(&[0x1f, 0x8b, 8, 0]), Codec::Gzip);
        assert_eq!(Codec::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Codec::Zstd);
        assert_eq!(Codec::sniff(b"etc/"), Codec::None);
    }
}
