//! The cache artifact: step records shared through a registry or a directory.
//!
//! An artifact is one OCI image manifest (the `image-manifest=true` form of BuildKit's
//! registry cache, which every registry v2 stores) whose config blob, of media type
//! [`CONFIG_MEDIA_TYPE`], is a [`CacheConfig`]: a map from step cache keys to what each
//! step produced (its layer's descriptor and `diff_id`, and its history's `created`),
//! and whose layers are those layers' blobs.
//!
//! BuildKit's `application/vnd.buildkit.cacheconfig.v0` is not reused: its records are
//! a graph of LLB vertex digests linked by inputs, with results keyed by BuildKit's own
//! content-based cache keys, which mkimage does not compute. Writing that media type with
//! mkimage's keys inside would make BuildKit read records it cannot match, and reading
//! BuildKit's would find no mkimage key; a media type of our own says plainly that only
//! mkimage reads it.
//!
//! The config says which key derivation made its keys ([`CacheConfig::key_version`]):
//! an artifact written by an mkimage whose keys differ is ignored (with a warning), as
//! one with an unknown [`CacheConfig::schema`]. Everything in an artifact is untrusted:
//! [`CacheConfig::parse`] takes at most [`CONFIG_LIMIT`] bytes of exactly this shape,
//! at most [`RECORD_LIMIT`] records, each layer among the manifest's layers; the layers'
//! bytes are checked against their digests when they are fetched.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::{Deserialize, Serialize};

use super::CacheKey;
use super::key::VERSION as KEY_VERSION;

/// The key of an image config's cache records (`--cache-to type=inline`), a
/// [`CacheConfig`] beside the config's own fields, where BuildKit writes its
/// `moby.buildkit.cache.v0`. Its records name the image's own layers.
pub const INLINE_KEY: &str = "mkimage.cache.v1";
/// The media type of the config blob of a cache artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.mkimage.cache.config.v1+json";
/// The schema of [`CacheConfig`] this mkimage writes and reads.
pub const SCHEMA: u32 = 1;
/// The largest config read: a record takes about 400 bytes, so this holds thousands.
pub const CONFIG_LIMIT: u64 = 8 * 1024 * 1024;
/// The most records one artifact may hold.
pub const RECORD_LIMIT: usize = 20_000;
/// The longest cache mount id accepted (a path's length).
const ID_LIMIT: usize = 4096;
/// The longest `created` accepted (RFC 3339 with nanoseconds and an offset is 35).
const CREATED_LIMIT: usize = 64;
/// The layer media types a record may name: OCI's and Docker's, plain, gzip or zstd.
const LAYER_MEDIA_TYPES: [&str; 5] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// The config of a cache artifact: step records by cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheConfig {
    /// The schema of this document: [`SCHEMA`].
    pub schema: u32,
    /// Which key derivation made the keys (`mkimage-cache-v2`); keys of another are
    /// never equal to this mkimage's, so such an artifact is not read.
    pub key_version: String,
    /// What each step produced, by its cache key.
    pub records: BTreeMap<CacheKey, CachedStep>,
    /// The definition keys (a step's key without its inputs) of `COPY` steps that have
    /// a record: such a step hashes its sources before it runs, to look its key up.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub definitions: BTreeSet<CacheKey>,
    /// The content of `RUN --mount=type=cache` directories, by the mount's id, each a
    /// layer of the artifact (`cache-mounts=true`), to start an empty store's first
    /// `RUN` warm.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cache_mounts: BTreeMap<String, CachedLayer>,
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedStep {
    /// The layer, `None` for a step that changed no file.
    pub layer: Option<CachedLayer>,
    /// The `created` of the step's history entry (RFC 3339).
    pub created: String,
}

/// A layer of a step record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CachedLayer {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
}

impl CachedLayer {
    /// The layer's descriptor, as an image manifest lists it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.size,
            self.digest.clone(),
        )
    }
}

/// Why an artifact's config is not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    /// The config is larger than [`CONFIG_LIMIT`].
    #[error("the cache config has {size} bytes, more than the {limit} read")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The manifest's config is not a cache config.
    #[error("the artifact's config has media type `{media_type}`, not `{CONFIG_MEDIA_TYPE}`")]
    NotCache {
        /// Its media type.
        media_type: String,
    },
    /// The config was written by an mkimage with another schema or key derivation.
    #[error(
        "the cache was written with schema {schema} and keys `{key_version}`; this mkimage reads schema {SCHEMA} and keys `{KEY_VERSION}`"
    )]
    Version {
        /// Its schema.
        schema: u32,
        /// Its key derivation.
        key_version: String,
    },
    /// The config is not JSON of the expected shape.
    #[error("the cache config is not valid: {message}")]
    Parse {
        /// What serde said.
        message: String,
    },
    /// The config holds more than [`RECORD_LIMIT`] records.
    #[error("the cache config has {count} records, more than the {limit} read")]
    TooManyRecords {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A record's layer is not among the manifest's layers, or has another shape there.
    #[error("the record of `{key}` names layer `{digest}`, which the artifact does not hold")]
    ForeignLayer {
        /// The record's key, or `cache mount <id>`.
        key: String,
        /// The layer's digest.
        digest: Digest,
    },
    /// A record's layer has a media type that is no layer's.
    #[error("the record of `{key}` has a layer of media type `{media_type}`")]
    LayerMediaType {
        /// The record's key, or `cache mount <id>`.
        key: String,
        /// The media type.
        media_type: String,
    },
    /// A cache mount's id is empty or too long.
    #[error("a cache mount id has {length} bytes, not 1 to {limit}")]
    CacheMountId {
        /// Its length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// An image config holds no cache records under [`INLINE_KEY`].
    #[error("the image's config holds no `{INLINE_KEY}` cache records")]
    NoInline,
    /// A record's `created` is not an RFC 3339 time.
    #[error("the record of `{key}` has an invalid `created`")]
    Created {
        /// The record's key.
        key: CacheKey,
    },
}

/// The version fields of a config, read before the rest so that a config of another
/// version is told apart from a broken one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    schema: u32,
    key_version: String,
}

impl CacheConfig {
    /// An empty config of this mkimage's schema and key derivation.
    pub fn new() -> CacheConfig {
        CacheConfig {
            schema: SCHEMA,
            key_version: KEY_VERSION.to_owned(),
            records: BTreeMap::new(),
            definitions: BTreeSet::new(),
            cache_mounts: BTreeMap::new(),
        }
    }

    /// The layers the records name, each once, in the order of their first record, then
    /// those of the cache mounts.
    pub fn layers(&self) -> Vec<Descriptor> {
        let mut seen = std::collections::HashSet::new();
        self.records
            .values()
            .filter_map(|step| step.layer.as_ref())
            .chain(self.cache_mounts.values())
            .filter(|layer| seen.insert(layer.digest.clone()))
            .map(CachedLayer::descriptor)
            .collect()
    }

    /// Reads the config `bytes` of an artifact whose manifest lists `layers`, checking
    /// everything: its versions, its shape, its size and count limits, and that each
    /// record's layer is one of `layers` with the same size and media type.
    ///
    /// # Errors
    ///
    /// An [`ArtifactError`] saying what is wrong.
    pub fn parse(bytes: &[u8], layers: &[Descriptor]) -> Result<CacheConfig, ArtifactError> {
        if bytes.len() as u64 > CONFIG_LIMIT {
            return Err(ArtifactError::TooLarge {
                size: bytes.len() as u64,
                limit: CONFIG_LIMIT,
            });
        }
        let parse = |error: serde_json::Error| ArtifactError::Parse {
            message: error.to_string(),
        };
        let versions: Versions = serde_json::from_slice(bytes).map_err(parse)?;
        if versions.schema != SCHEMA || versions.key_version != KEY_VERSION {
            return Err(ArtifactError::Version {
                schema: versions.schema,
                key_version: versions.key_version,
            });
        }
        let config: CacheConfig = serde_json::from_slice(bytes).map_err(parse)?;
        config.check(layers)?;
        Ok(config)
    }

    /// Reads the cache records an image config (`bytes`) holds under [`INLINE_KEY`],
    /// checked as [`CacheConfig::parse`] checks an artifact's, against the image's
    /// `layers`.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::NoInline`] when it holds none, else as [`CacheConfig::parse`].
    pub fn parse_inline(bytes: &[u8], layers: &[Descriptor]) -> Result<CacheConfig, ArtifactError> {
        if bytes.len() as u64 > CONFIG_LIMIT {
            return Err(ArtifactError::TooLarge {
                size: bytes.len() as u64,
                limit: CONFIG_LIMIT,
            });
        }
        let mut config: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|error| ArtifactError::Parse {
                message: error.to_string(),
            })?;
        let records = config.remove(INLINE_KEY).ok_or(ArtifactError::NoInline)?;
        let bytes = serde_json::to_vec(&records).expect("a JSON value encodes");
        CacheConfig::parse(&bytes, layers)
    }

    /// Checks the record count and each record against `layers`.
    fn check(&self, layers: &[Descriptor]) -> Result<(), ArtifactError> {
        let count = self.records.len() + self.definitions.len() + self.cache_mounts.len();
        if count > RECORD_LIMIT {
            return Err(ArtifactError::TooManyRecords {
                count,
                limit: RECORD_LIMIT,
            });
        }
        for (key, step) in &self.records {
            if step.created.len() > CREATED_LIMIT
                || chrono::DateTime::parse_from_rfc3339(&step.created).is_err()
            {
                return Err(ArtifactError::Created { key: key.clone() });
            }
            if let Some(layer) = &step.layer {
                check_layer(&key.to_string(), layer, layers)?;
            }
        }
        for (id, layer) in &self.cache_mounts {
            if id.is_empty() || id.len() > ID_LIMIT {
                return Err(ArtifactError::CacheMountId {
                    length: id.len(),
                    limit: ID_LIMIT,
                });
            }
            check_layer(&format!("cache mount {id}"), layer, layers)?;
        }
        Ok(())
    }
}

/// Checks that `layer`, of the record `key`, has a layer's media type and is one of
/// `layers`.
fn check_layer(key: &str, layer: &CachedLayer, layers: &[Descriptor]) -> Result<(), ArtifactError> {
    if !LAYER_MEDIA_TYPES.contains(&layer.media_type.as_str()) {
        return Err(ArtifactError::LayerMediaType {
            key: key.to_owned(),
            media_type: layer.media_type.clone(),
        });
    }
    if !layers.contains(&layer.descriptor()) {
        return Err(ArtifactError::ForeignLayer {
            key: key.to_owned(),
            digest: layer.digest.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;

    fn key(text: &str) -> CacheKey {
        sha256(text.as_bytes())
            .to_string()
            .parse()
            .expect("a digest is a key")
    }

    fn layer(text: &str) -> CachedLayer {
        CachedLayer {
            digest: sha256(text.as_bytes()),
            size: 7,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
            diff_id: sha256(b"tar"),
        }
    }

    fn config() -> CacheConfig {
        let mut config = CacheConfig::new();
        config.records.insert(
            key("copy"),
            CachedStep {
                layer: Some(layer("a")),
                created: "2024-01-01T00:00:00Z".to_owned(),
            },
        );
        config.records.insert(
            key("env"),
            CachedStep {
                layer: None,
                created: "2024-01-01T00:00:01Z".to_owned(),
            },
        );
        config.definitions.insert(key("copy-definition"));
        config
    }

    #[test]
    fn a_config_reads_back_with_its_layers() -> Result<(), ArtifactError> {
        let config = config();
        let bytes = serde_json::to_vec(&config).expect("encodes");
        assert_eq!(CacheConfig::parse(&bytes, &config.layers())?, config);
        assert_eq!(config.layers(), [layer("a").descriptor()]);
        Ok(())
    }

    #[test]
    fn another_version_is_told_apart_from_a_broken_config() {
        let mut config = config();
        config.key_version = "mkimage-cache-v1".to_owned();
        let bytes = serde_json::to_vec(&config).expect("encodes");
        assert_eq!(
            CacheConfig::parse(&bytes, &config.layers())
                .unwrap_err()
                .to_string(),
            "the cache was written with schema 1 and keys `mkimage-cache-v1`; this mkimage reads schema 1 and keys `mkimage-cache-v2`"
        );
        let error = CacheConfig::parse(b"{\"schema\":1,", &[]).unwrap_err();
        assert!(matches!(error, ArtifactError::Parse { .. }), "{error}");
    }

    #[test]
    fn untrusted_records_are_checked() {
        let config = config();
        let layers = config.layers();
        let mut value = serde_json::to_value(&config).expect("encodes");
        value["extra"] = true.into();
        let error = CacheConfig::parse(value.to_string().as_bytes(), &layers).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `extra`"),
            "{error}"
        );

        let copy = key("copy");
        assert_eq!(
            CacheConfig::parse(&serde_json::to_vec(&config).expect("encodes"), &[]),
            Err(ArtifactError::ForeignLayer {
                key: copy.to_string(),
                digest: layer("a").digest
            })
        );
        let mut mounted = config.clone();
        mounted.cache_mounts.insert("deps".to_owned(), layer("b"));
        let bytes = serde_json::to_vec(&mounted).expect("encodes");
        assert_eq!(
            CacheConfig::parse(&bytes, &layers),
            Err(ArtifactError::ForeignLayer {
                key: "cache mount deps".to_owned(),
                digest: layer("b").digest
            })
        );
        assert_eq!(CacheConfig::parse(&bytes, &mounted.layers()), Ok(mounted));
        let mut odd = config.clone();
        if let Some(step) = odd.records.get_mut(&copy) {
            step.created = "yesterday".to_owned();
        }
        let bytes = serde_json::to_vec(&odd).expect("encodes");
        assert_eq!(
            CacheConfig::parse(&bytes, &layers),
            Err(ArtifactError::Created { key: copy })
        );
    }
}
