//! Target platforms (`linux/amd64`, `linux/arm64/v8`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An operating system, architecture and optional variant, as in an OCI index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Why a platform string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{text}`: expected `os/arch` or `os/arch/variant`")]
pub struct ParsePlatformError {
    text: String,
}

impl Platform {
    /// A platform from its parts; the architecture is normalized (`x86_64` → `amd64`,
    /// `aarch64` → `arm64`).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let architecture = match architecture {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" | "i686" => "386",
            other => other,
        };
        Self {
            os: os.to_ascii_lowercase(),
            architecture: architecture.to_ascii_lowercase(),
            variant: variant.map(str::to_ascii_lowercase),
        }
    }

    /// The platform this process runs on.
    pub fn host() -> Self {
        let variant = match std::env::consts::ARCH {
            "aarch64" => Some("v8"),
            _ => None,
        };
        Self::new(std::env::consts::OS, std::env::consts::ARCH, variant)
    }

    /// The operating system (`linux`).
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture, in Go's names (`amd64`, `arm64`).
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The variant (`v7`, `v8`), if any.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ParsePlatformError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParsePlatformError {
            text: text.to_owned(),
        };
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |part: &&str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(valid) {
            return Err(error());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(error()),
        }
    }
}

impl TryFrom<String> for Platform {
    type Error = ParsePlatformError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Platform> for String {
    fn from(platform: Platform) -> String {
        platform.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_round_trips_and_normalizes() {
        let platform: Platform = "linux/x86_64".parse().unwrap();
        assert_eq!(platform.to_string(), "linux/amd64");
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(arm.variant(), Some("v8"));
        assert_eq!(
            "linux".parse::<Platform>().unwrap_err().to_string(),
            "invalid platform `linux`: expected `os/arch` or `os/arch/variant`"
        );
        for bad in [
            "linux/amd64,linux/arm64",
            "linux/x 86",
            "linux//amd64",
            "linux/arm/v7/x",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }
}
