//! The expected digest of a download, `ADD --checksum`.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use super::FetchError;

/// An expected digest, `<algorithm>:<hex>`, as `ADD --checksum` takes it: SHA-256, SHA-384
/// or SHA-512 (the algorithms Docker accepts), the hex digits in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

impl FromStr for Checksum {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FetchError::BadChecksum {
            checksum: s.to_owned(),
        };
        let (name, hex) = s.split_once(':').ok_or_else(bad)?;
        let algorithm = match name {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad()),
        };
        let lower_hex = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() != algorithm.hex_len() || !lower_hex {
            return Err(bad());
        }
        Ok(Checksum {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl Checksum {
    /// A hasher of this checksum's algorithm, to feed the body to.
    pub(crate) fn hasher(&self) -> Hasher {
        match self.algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// Computes a digest in one of the [`Checksum`] algorithms.
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Feeds `bytes`.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed, as a checksum.
    pub(crate) fn finish(self) -> Checksum {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha384(h) => (Algorithm::Sha384, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Checksum { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_algorithms_only() {
        let sha256 = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(sha256.parse::<Checksum>().unwrap().to_string(), sha256);
        let sha512 = format!("sha512:{}", "0".repeat(128));
        assert!(sha512.parse::<Checksum>().is_ok());
        for bad in [
            "sha256",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            &format!("sha256:{}", "AB".repeat(32)),
            &format!("sha256:{}", "ab".repeat(31)),
            &format!("sha384:{}", "ab".repeat(32)),
        ] {
            let err = bad.parse::<Checksum>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "checksum `{bad}` is not `sha256:`, `sha384:` or `sha512:` followed by its hex digest"
                )
            );
        }
    }

    #[test]
    fn hashes_in_its_algorithm() {
        let empty: Checksum = format!(
            "sha256:{}",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        .parse()
        .unwrap();
        let mut hasher = empty.hasher();
        hasher.update(b"");
        assert_eq!(hasher.finish(), empty);
    }
}
