//! `--cache-from` and `--cache-to` values, spelled as BuildKit spells them
//! (`type=registry,ref=REF,mode=max`), so CI configurations carry over.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::layer::Compression;
use crate::plan::Reference;

use super::RemoteCacheError;

/// Where a cache artifact lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// A registry, as this reference (`type=registry,ref=REF`).
    Registry(Reference),
    /// An OCI image layout directory (`type=local,src=DIR` / `dest=DIR`).
    Local(PathBuf),
    /// The image's own config (`--cache-to type=inline`; read back through the image's
    /// reference, `type=registry,ref=IMAGE`).
    Inline,
}

impl fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheLocation::Registry(reference) => reference.fmt(f),
            CacheLocation::Local(dir) => dir.display().fmt(f),
            CacheLocation::Inline => f.write_str("inline"),
        }
    }
}

/// Which steps `--cache-to` exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// The steps of the stages the image is made of (`mode=min`, the default).
    #[default]
    Min,
    /// Every step of every stage built (`mode=max`).
    Max,
}

/// A `--cache-from` value: a cache artifact to look steps up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFrom {
    /// Where the artifact is.
    pub location: CacheLocation,
}

/// A `--cache-to` value: where to export the build's step records, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    /// Where the artifact goes.
    pub location: CacheLocation,
    /// Which steps.
    pub mode: CacheMode,
    /// Whether a failed export is a warning (`ignore-error=true`) rather than an error.
    pub ignore_error: bool,
    /// Whether the content of the build's `RUN --mount=type=cache` directories is
    /// exported too (`cache-mounts=true`).
    pub cache_mounts: bool,
    /// The largest cache mount exported, in bytes (`cache-mounts-max=SIZE`); a larger
    /// one is left out with a warning.
    pub cache_mounts_max: u64,
    /// How the layers the export writes itself (those of cache mounts) are compressed
    /// (`compression=gzip|zstd|uncompressed`, at each one's default level). Step layers
    /// are the image's own blobs, as `--compression` made them, so that a hit gives the
    /// image a local build gives.
    pub compression: Compression,
}

/// The default of [`CacheTo::cache_mounts_max`]: 1 GiB.
pub const CACHE_MOUNTS_MAX: u64 = 1 << 30;

/// The `key=value` fields of a value, with the value for the error messages.
struct Fields<'a> {
    text: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    fn parse(text: &'a str) -> Result<Fields<'a>, RemoteCacheError> {
        let mut fields = Vec::new();
        for part in text.split(',') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(invalid(text, format!("`{part}` is not `key=value`")));
            };
            if fields.iter().any(|(seen, _)| *seen == key) {
                return Err(invalid(text, format!("`{key}` is given twice")));
            }
            fields.push((key, value));
        }
        Ok(Fields { text, fields })
    }

    fn take(&mut self, key: &str) -> Option<&'a str> {
        let position = self.fields.iter().position(|(name, _)| *name == key)?;
        Some(self.fields.remove(position).1)
    }

    fn bool(&mut self, key: &str) -> Result<bool, RemoteCacheError> {
        match self.take(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(invalid(
                self.text,
                format!("`{key}` is `true` or `false`, not `{other}`"),
            )),
        }
    }

    /// The location of `type=` and its field (`ref`, or `path_key` for a directory);
    /// `type=inline` only for `dest` (an export).
    fn location(&mut self, path_key: &str) -> Result<CacheLocation, RemoteCacheError> {
        let text = self.text;
        match self.take("type") {
            Some("registry") => {
                let name = self
                    .take("ref")
                    .ok_or_else(|| invalid(text, "`ref=REF` is missing".to_owned()))?;
                let reference = name
                    .parse()
                    .map_err(|error| invalid(text, format!("invalid reference: {error}")))?;
                Ok(CacheLocation::Registry(reference))
            }
            Some("local") => self
                .take(path_key)
                .filter(|dir| !dir.is_empty())
                .map(|dir| CacheLocation::Local(PathBuf::from(dir)))
                .ok_or_else(|| invalid(text, format!("`{path_key}=DIR` is missing"))),
            Some("inline") if path_key == "dest" => Ok(CacheLocation::Inline),
            Some(other) => Err(invalid(
                text,
                match path_key {
                    "dest" => format!("unknown type `{other}` (registry, local, inline)"),
                    _ => format!(
                        "unknown type `{other}` (registry, local; an inline cache is read with type=registry,ref=IMAGE)"
                    ),
                },
            )),
            None => Err(invalid(text, "`type=` is missing".to_owned())),
        }
    }

    /// Fails on a field left over.
    fn done(self) -> Result<(), RemoteCacheError> {
        match self.fields.first() {
            None => Ok(()),
            Some((key, value)) => Err(invalid(self.text, format!("unknown field `{key}={value}`"))),
        }
    }
}

fn invalid(text: &str, problem: String) -> RemoteCacheError {
    RemoteCacheError::InvalidOption {
        text: text.to_owned(),
        problem,
    }
}

impl FromStr for CacheFrom {
    type Err = RemoteCacheError;

    /// `type=registry,ref=REF`, `type=local,src=DIR`, or a bare `REF`, which BuildKit
    /// reads as `type=registry,ref=REF`.
    fn from_str(text: &str) -> Result<CacheFrom, RemoteCacheError> {
        if !text.contains('=') {
            let reference = text
                .parse()
                .map_err(|error| invalid(text, format!("invalid reference: {error}")))?;
            return Ok(CacheFrom {
                location: CacheLocation::Registry(reference),
            });
        }
        let mut fields = Fields::parse(text)?;
        let location = fields.location("src")?;
        fields.done()?;
        Ok(CacheFrom { location })
    }
}

impl FromStr for CacheTo {
    type Err = RemoteCacheError;

    /// `type=registry,ref=REF`, `type=local,dest=DIR` or `type=inline` (whose records
    /// are always `mode=min`'s), with `mode=min|max`, `cache-mounts=true|false`,
    /// `cache-mounts-max=SIZE`, `compression=gzip|zstd|uncompressed` and
    /// `ignore-error=true|false`. `image-manifest=true` and `oci-mediatypes=true` are
    /// taken as given: the artifact is always one OCI image manifest.
    fn from_str(text: &str) -> Result<CacheTo, RemoteCacheError> {
        let mut fields = Fields::parse(text)?;
        let location = fields.location("dest")?;
        let mode = match fields.take("mode") {
            None | Some("min") => CacheMode::Min,
            Some("max") => CacheMode::Max,
            Some(other) => {
                return Err(invalid(
                    text,
                    format!("`mode` is `min` or `max`, not `{other}`"),
                ));
            }
        };
        if location == CacheLocation::Inline && mode == CacheMode::Max {
            return Err(invalid(
                text,
                "an inline cache holds the image's steps only (`mode=min`)".to_owned(),
            ));
        }
        let ignore_error = fields.bool("ignore-error")?;
        let cache_mounts = fields.bool("cache-mounts")?;
        if cache_mounts && location == CacheLocation::Inline {
            return Err(invalid(
                text,
                "an inline cache holds no cache mounts (`cache-mounts=true`)".to_owned(),
            ));
        }
        let compression = match fields.take("compression") {
            None | Some("gzip") => Compression::default(),
            Some("zstd") => Compression::Zstd { level: 3 },
            Some("uncompressed") => Compression::Uncompressed,
            Some(other) => {
                return Err(invalid(
                    text,
                    format!("`compression` is `gzip`, `zstd` or `uncompressed`, not `{other}`"),
                ));
            }
        };
        let cache_mounts_max = match fields.take("cache-mounts-max") {
            None => CACHE_MOUNTS_MAX,
            Some(size) => {
                crate::spec::parse_size(size).map_err(|problem| invalid(text, problem))?
            }
        };
        for always in ["image-manifest", "oci-mediatypes"] {
            if fields.take(always).is_some_and(|value| value != "true") {
                return Err(invalid(
                    text,
                    format!("`{always}` can only be `true`: the cache is one OCI image manifest"),
                ));
            }
        }
        fields.done()?;
        Ok(CacheTo {
            location,
            mode,
            ignore_error,
            cache_mounts,
            cache_mounts_max,
            compression,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(text: &str) -> CacheLocation {
        CacheLocation::Registry(text.parse().expect("a reference"))
    }

    #[test]
    fn values_parse_as_buildkit_spells_them() -> Result<(), RemoteCacheError> {
        let to: CacheTo =
            "type=registry,ref=localhost/app:cache,mode=max,ignore-error=true".parse()?;
        assert_eq!(
            to,
            CacheTo {
                location: registry("localhost/app:cache"),
                mode: CacheMode::Max,
                ignore_error: true,
                cache_mounts: false,
                cache_mounts_max: CACHE_MOUNTS_MAX,
                compression: Compression::default(),
            }
        );
        let to: CacheTo = "type=local,dest=d,compression=zstd".parse()?;
        assert_eq!(to.compression, Compression::Zstd { level: 3 });
        let to: CacheTo = "type=local,dest=d,cache-mounts=true,cache-mounts-max=512MB".parse()?;
        assert_eq!((to.cache_mounts, to.cache_mounts_max), (true, 512 << 20));
        let to: CacheTo = "type=local,dest=/tmp/c,image-manifest=true".parse()?;
        assert_eq!(
            (to.location, to.mode, to.ignore_error),
            (CacheLocation::Local("/tmp/c".into()), CacheMode::Min, false)
        );
        let from: CacheFrom = "type=local,src=dir".parse()?;
        assert_eq!(from.location, CacheLocation::Local("dir".into()));
        let from: CacheFrom = "localhost/app:cache".parse()?;
        assert_eq!(from.location, registry("localhost/app:cache"));
        Ok(())
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let cases = [
            ("type=registry", "`ref=REF` is missing"),
            ("type=local", "`dest=DIR` is missing"),
            (
                "type=gha,url=x",
                "unknown type `gha` (registry, local, inline)",
            ),
            (
                "type=local,dest=d,mode=all",
                "`mode` is `min` or `max`, not `all`",
            ),
            ("type=local,dest=d,zip=1", "unknown field `zip=1`"),
            (
                "type=inline,cache-mounts=true",
                "an inline cache holds no cache mounts (`cache-mounts=true`)",
            ),
            (
                "type=local,dest=d,cache-mounts-max=lots",
                "invalid size `lots`: expected a number and a unit like 512MB or 10GB",
            ),
            (
                "type=local,dest=d,compression=lz4",
                "`compression` is `gzip`, `zstd` or `uncompressed`, not `lz4`",
            ),
            (
                "type=inline,mode=max",
                "an inline cache holds the image's steps only (`mode=min`)",
            ),
            ("type=local,dest=d,dest=e", "`dest` is given twice"),
            (
                "type=local,dest=d,image-manifest=false",
                "`image-manifest` can only be `true`: the cache is one OCI image manifest",
            ),
        ];
        for (text, problem) in cases {
            let error = text.parse::<CacheTo>().err().map(|e| e.to_string());
            assert_eq!(
                error,
                Some(format!("invalid cache option `{text}`: {problem}")),
                "{text}"
            );
        }
    }
}
