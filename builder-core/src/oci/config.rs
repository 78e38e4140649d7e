//! The image config: Docker's, a superset of OCI's.
//!
//! This is our own type rather than `oci_spec::image::ImageConfiguration` because the
//! OCI config lacks fields that `docker build` writes and a base image may carry:
//! `Healthcheck`, `OnBuild`, `Shell` and `ArgsEscaped`
//! ([Docker image spec v1.3](https://github.com/moby/docker-image-spec/blob/main/spec.md)).
//! Every struct keeps the fields it does not know in `extra`, so a base image's config
//! survives a build unchanged apart from what the build edits. Empty optional fields are
//! left out, as Docker leaves them out.

use std::collections::{BTreeMap, BTreeSet};

use mkimage_plan::CONFIG_LIMIT;
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

// The store must read back every config the engine may write.
const _: () = assert!(CONFIG_LIMIT as u64 == crate::store::JSON_LIMIT);

/// Fields of a JSON object that a struct does not name.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// An image config
/// ([OCI image config](https://github.com/opencontainers/image-spec/blob/main/config.md)
/// with Docker's extensions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// OPTIONAL: when the image was created, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// OPTIONAL: who or what created the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// REQUIRED: the CPU architecture, in Go's names (`amd64`).
    #[serde(default)]
    pub architecture: String,
    /// REQUIRED: the operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// OPTIONAL: the operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OPTIONAL: the CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OPTIONAL: how a container of the image runs.
    #[serde(default)]
    pub config: RunConfig,
    /// REQUIRED: the layers' `diff_id`s.
    #[serde(default)]
    pub rootfs: RootFs,
    /// OPTIONAL: one entry per build step, layer or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields not named above, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How a container of the image runs: the config's `config` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `USER`: the user (and group) to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`: ports as `80/tcp`.
    #[serde(
        default,
        with = "object_set",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub exposed_ports: BTreeSet<String>,
    /// `ENV`: `NAME=value` entries in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`: paths.
    #[serde(
        default,
        with = "object_set",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub volumes: BTreeSet<String>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `LABEL`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK` (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// `SHELL` (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Whether `Cmd`/`Entrypoint` are already escaped for Windows (Docker only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    /// Fields not named above (`Hostname`, `Tty`, … in older images), kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `HEALTHCHECK`: durations are in nanoseconds, as Go's `time.Duration`; zero means
/// "inherit" and is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`; empty inherits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Time for the container to start before failures count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// The config's `rootfs`: the layers' `diff_id`s, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// REQUIRED: always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// REQUIRED: the digests of the uncompressed layer tars, in order.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of the image's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// OPTIONAL: when the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// OPTIONAL: the command of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// OPTIONAL: who made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// OPTIONAL: a comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// OPTIONAL: true when the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A set of strings written as a JSON object whose values are `{}` (`ExposedPorts`,
/// `Volumes`), as Go writes `map[string]struct{}`.
mod object_set {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        set: &BTreeSet<String>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let empty = serde_json::Map::new();
        let map: BTreeMap<&String, &serde_json::Map<_, _>> =
            set.iter().map(|key| (key, &empty)).collect();
        map.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeSet<String>, D::Error> {
        let map: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
        Ok(map.unwrap_or_default().into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields_and_docker_extensions() -> Result<(), serde_json::Error> {
        let text = r#"{
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "container": "abc",
            "config": {
                "Hostname": "",
                "Env": ["PATH=/bin"],
                "Cmd": null,
                "ExposedPorts": {"80/tcp": {}},
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
                "OnBuild": ["RUN true"],
                "Shell": ["/bin/bash", "-c"],
                "ArgsEscaped": true
            },
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created_by": "x", "empty_layer": true}]
        }"#;
        let config: ImageConfig = serde_json::from_str(text)?;
        assert_eq!(
            config.config.env.as_deref(),
            Some(&["PATH=/bin".to_owned()][..])
        );
        assert_eq!(config.config.cmd, None);
        assert_eq!(
            config.config.healthcheck.as_ref().map(|h| h.interval),
            Some(30_000_000_000)
        );
        assert!(config.config.args_escaped);
        assert_eq!(config.extra["container"], "abc");
        assert_eq!(config.config.extra["Hostname"], "");
        let out = String::from_utf8(crate::spec::canonical_json(&config)?).expect("UTF-8");
        assert_eq!(
            out,
            r#"{"architecture":"amd64","config":{"ArgsEscaped":true,"Env":["PATH=/bin"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","true"]},"Hostname":"","OnBuild":["RUN true"],"Shell":["/bin/bash","-c"]},"container":"abc","created":"2024-01-01T00:00:00Z","history":[{"created_by":"x","empty_layer":true}],"os":"linux","rootfs":{"diff_ids":[],"type":"layers"}}"#
        );
        Ok(())
    }

    // See: issue 13
    #[test]
    fn unknown_numbers_keep_their_value_when_written() -> Result<(), serde_json::Error> {
        let text = r#"{"big": 66666666666666666666666666666666666666666666, "small": 0.30000000000000004}"#;
        let config: ImageConfig = serde_json::from_str(text)?;
        assert_eq!(config.extra["big"].as_f64(), Some(6.666_666_666_666_666e43));
        let written = serde_json::to_string(&config)?;
        let back: ImageConfig = serde_json::from_str(&written)?;
        assert_eq!(back, config, "{written}");
        Ok(())
    }

    #[test]
    fn empty_fields_are_left_out() -> Result<(), serde_json::Error> {
        let config = ImageConfig {
            architecture: "arm64".into(),
            os: "linux".into(),
            ..ImageConfig::default()
        };
        assert_eq!(
            String::from_utf8(crate::spec::canonical_json(&config)?).expect("UTF-8"),
            r#"{"architecture":"arm64","config":{},"os":"linux","rootfs":{"diff_ids":[],"type":"layers"}}"#
        );
        Ok(())
    }
}
