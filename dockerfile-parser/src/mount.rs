//! `RUN --mount=…` values, parsed and checked as BuildKit does.
//!
//! A value is one CSV record (`type=cache,target=/root/.cache,"id=a,b"`) of `key=value`
//! fields, keys case-insensitive, values expanded like any word. `ro`/`readonly`,
//! `rw`/`readwrite` and, for secrets and SSH, `required` may stand alone. Fields are
//! checked in order, so `required` or `size` before `type` is an error, as in Docker. The
//! `from` is kept as written for the caller to resolve to a stage or an image.

use mkimage_plan::{Mount, Sharing, Source, slash_path};

use crate::expand::ExpandError;

/// Why a `--mount` value is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MountError {
    /// The value is not one CSV record.
    #[error("invalid `--mount` value: {reason}")]
    Csv {
        /// What is wrong.
        reason: &'static str,
    },
    /// A field without `=` that must have one.
    #[error("invalid field `{field}` in `--mount`: expected `key=value`")]
    NotKeyValue {
        /// The field.
        field: String,
    },
    /// A key that no mount has.
    #[error(
        "unknown key `{key}` in `--mount`: expected one of `type`, `from`, `source`, `target`, `readonly`, `readwrite`, `id`, `sharing`, `required`, `size`, `mode`, `uid`, `gid`, `env`{}",
        suggestion(.key, MOUNT_KEYS)
    )]
    UnknownKey {
        /// The key, lowercased.
        key: String,
    },
    /// A key that this mount type does not take (so far in the value).
    #[error("`{key}` is not allowed for a `{mount_type}` mount")]
    KeyNotAllowed {
        /// The key.
        key: &'static str,
        /// The mount type.
        mount_type: &'static str,
    },
    /// A `type` other than the five.
    #[error(
        "unsupported mount type `{value}`: expected `bind`, `cache`, `tmpfs`, `secret` or `ssh`{}",
        suggestion(&.value.to_ascii_lowercase(), MOUNT_TYPES)
    )]
    UnknownType {
        /// The type as written.
        value: String,
    },
    /// A `sharing` other than the three.
    #[error("unsupported sharing `{value}`: expected `shared`, `private` or `locked`")]
    UnknownSharing {
        /// The value as written.
        value: String,
    },
    /// A value of the wrong form for its key.
    #[error("invalid value `{value}` for `{key}` in `--mount`: expected {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `from=` with a variable in it.
    #[error(
        "`from` in `--mount` does not support variable expansion: define a stage with `FROM` from a global `ARG` and mount that"
    )]
    FromVariable,
    /// A combination BuildKit rejects.
    #[error("invalid `{mount_type}` mount: {reason}")]
    Invalid {
        /// The mount type.
        mount_type: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A value could not be expanded.
    #[error("failed to expand `{value}` in `--mount`")]
    Expand {
        /// The value as written.
        value: String,
        /// Why.
        #[source]
        source: ExpandError,
    },
}

const MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

const MOUNT_TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];

/// `: did you mean `x`?` when a candidate is close to `word`.
fn suggestion(word: &str, candidates: &[&str]) -> String {
    crate::suggest::closest(word, candidates)
        .map(|candidate| format!(": did you mean `{candidate}`?"))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// A parsed `--mount` whose `from` is still a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountSpec {
    mount_type: MountType,
    /// The `from` as written (a stage name or index, or an image), if any.
    pub from: Option<String>,
    source: String,
    target: String,
    readonly: bool,
    size: Option<u64>,
    id: String,
    sharing: Option<Sharing>,
    required: bool,
    env: Option<String>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Parses one `--mount` value, expanding each value with `expand`.
///
/// # Errors
/// A [`MountError`] as BuildKit would report it.
pub(crate) fn parse_mount(
    value: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, ExpandError>,
) -> Result<MountSpec, MountError> {
    let mut spec = MountSpec {
        mount_type: MountType::Bind,
        from: None,
        source: String::new(),
        target: String::new(),
        readonly: false,
        size: None,
        id: String::new(),
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut readonly_set = false;
    for field in csv_fields(value)? {
        let Some((key, raw)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => spec.readonly = true,
                "readwrite" | "rw" => spec.readonly = false,
                "required" => spec.required = spec.allows_required("required")?,
                _ => return Err(MountError::NotKeyValue { field }),
            }
            readonly_set |= !field.eq_ignore_ascii_case("required");
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "from" && raw.find('$').is_some_and(|i| i != raw.len() - 1) {
            return Err(MountError::FromVariable);
        }
        let value = expand(raw).map_err(|source| MountError::Expand {
            value: raw.to_owned(),
            source,
        })?;
        let invalid = |expected: &'static str| MountError::InvalidValue {
            key: key.clone(),
            value: value.clone(),
            expected,
        };
        match key.as_str() {
            "type" => {
                spec.mount_type = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(MountError::UnknownType { value }),
                }
            }
            "from" => spec.from = Some(value),
            "source" | "src" => spec.source = value,
            "target" | "dst" | "destination" => spec.target = value,
            "readonly" | "ro" => {
                spec.readonly = go_bool(&value).ok_or_else(|| invalid("a boolean"))?;
                readonly_set = true;
            }
            "readwrite" | "rw" => {
                spec.readonly = !go_bool(&value).ok_or_else(|| invalid("a boolean"))?;
                readonly_set = true;
            }
            "required" => {
                spec.allows_required("required")?;
                spec.required = go_bool(&value).ok_or_else(|| invalid("a boolean"))?;
            }
            "size" => {
                if spec.mount_type != MountType::Tmpfs {
                    return Err(MountError::KeyNotAllowed {
                        key: "size",
                        mount_type: spec.mount_type.name(),
                    });
                }
                let size = ram_in_bytes(&value).ok_or_else(|| invalid("a size like `64m`"))?;
                spec.size = Some(size).filter(|&size| size > 0);
            }
            "id" => spec.id = value,
            "sharing" => {
                spec.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => return Err(MountError::UnknownSharing { value }),
                })
            }
            "mode" => {
                spec.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .ok()
                        .filter(|_| !value.starts_with('+'))
                        .ok_or_else(|| invalid("an octal mode"))?,
                )
            }
            "uid" | "gid" => {
                let id = decimal_u32(&value).ok_or_else(|| invalid("a number"))?;
                if key == "uid" {
                    spec.uid = Some(id);
                } else {
                    spec.gid = Some(id);
                }
            }
            "env" => spec.env = Some(value),
            _ => return Err(MountError::UnknownKey { key }),
        }
    }
    spec.check(readonly_set)?;
    Ok(spec)
}

impl MountSpec {
    /// `required` is only for secrets and SSH.
    fn allows_required(&self, key: &'static str) -> Result<bool, MountError> {
        match self.mount_type {
            MountType::Secret | MountType::Ssh => Ok(true),
            other => Err(MountError::KeyNotAllowed {
                key,
                mount_type: other.name(),
            }),
        }
    }

    /// The checks BuildKit makes once all fields are read; sets the default `readonly`.
    fn check(&mut self, readonly_set: bool) -> Result<(), MountError> {
        let mount_type = self.mount_type.name();
        let not_allowed = |key| MountError::KeyNotAllowed { key, mount_type };
        let invalid = |reason| MountError::Invalid { mount_type, reason };
        if matches!(self.mount_type, MountType::Bind | MountType::Tmpfs) {
            if self.mode.is_some() {
                return Err(not_allowed("mode"));
            }
            if self.uid.is_some() {
                return Err(not_allowed("uid"));
            }
            if self.gid.is_some() {
                return Err(not_allowed("gid"));
            }
        }
        if !readonly_set {
            self.readonly = !matches!(self.mount_type, MountType::Cache | MountType::Tmpfs);
        }
        if self.mount_type == MountType::Secret {
            if self.from.is_some() {
                return Err(invalid("a secret mount has no `from`"));
            }
            if self.sharing.is_some() {
                return Err(invalid("a secret mount has no `sharing`"));
            }
            if self.source.is_empty() && self.target.is_empty() && self.id.is_empty() {
                return Err(invalid("one of `id`, `source` or `target` is required"));
            }
            if !self.source.is_empty() && !self.id.is_empty() {
                return Err(invalid("`source` and `id` cannot both be set"));
            }
        }
        if self.sharing.is_some() && self.mount_type != MountType::Cache {
            return Err(not_allowed("sharing"));
        }
        if self.mount_type == MountType::Ssh && !self.source.is_empty() {
            return Err(not_allowed("source"));
        }
        if matches!(
            self.mount_type,
            MountType::Bind | MountType::Cache | MountType::Tmpfs
        ) && self.target.starts_with('/')
            && slash_path::clean(&self.target) == "/"
        {
            return Err(invalid("the target cannot be `/`"));
        }
        Ok(())
    }

    /// The plan's mount, with `from` resolved by the caller (`None` when not given).
    pub(crate) fn into_mount(self, from: Option<Source>) -> Mount {
        let root = |source: String| {
            if source.is_empty() {
                "/".to_owned()
            } else {
                source
            }
        };
        match self.mount_type {
            MountType::Bind => Mount::Bind {
                target: self.target,
                source: root(self.source),
                from: from.unwrap_or_default(),
                rw: !self.readonly,
            },
            MountType::Cache => Mount::Cache {
                id: if self.id.is_empty() {
                    slash_path::clean(&self.target)
                } else {
                    self.id
                },
                target: self.target,
                sharing: self.sharing.unwrap_or_default(),
                from,
                source: root(self.source),
                readonly: self.readonly,
                mode: self.mode.unwrap_or(0o755),
                uid: self.uid.unwrap_or(0),
                gid: self.gid.unwrap_or(0),
            },
            MountType::Tmpfs => Mount::Tmpfs {
                target: self.target,
                size: self.size,
            },
            MountType::Secret => {
                let id = if !self.source.is_empty() {
                    self.source
                } else if !self.id.is_empty() {
                    self.id
                } else {
                    slash_path::base(&self.target).to_owned()
                };
                let target = match (self.target.is_empty(), &self.env) {
                    (false, _) => Some(self.target),
                    (true, Some(_)) => None,
                    (true, None) => Some(format!("/run/secrets/{}", slash_path::base(&id))),
                };
                Mount::Secret {
                    id,
                    target,
                    env: self.env,
                    required: self.required,
                    mode: self.mode.unwrap_or(0o400),
                    uid: self.uid.unwrap_or(0),
                    gid: self.gid.unwrap_or(0),
                }
            }
            MountType::Ssh => Mount::Ssh {
                id: if self.id.is_empty() {
                    "default".to_owned()
                } else {
                    self.id
                },
                target: Some(self.target).filter(|target| !target.is_empty()),
                required: self.required,
                mode: self.mode.unwrap_or(0o600),
                uid: self.uid.unwrap_or(0),
                gid: self.gid.unwrap_or(0),
            },
        }
    }
}

/// The fields of one CSV record, as Go's `encoding/csv` reads it: fields split on `,`; a
/// field starting with `"` is quoted and `""` in it is a quote; a quote elsewhere is an
/// error. One trailing newline is ignored.
fn csv_fields(line: &str) -> Result<Vec<String>, MountError> {
    let line = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .unwrap_or(line);
    if line.is_empty() {
        return Err(MountError::Csv {
            reason: "it is empty",
        });
    }
    let bare_quote = MountError::Csv {
        reason: "a `\"` in a field that is not quoted",
    };
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let Some(quoted) = rest.strip_prefix('"') else {
            let (field, after) = match rest.split_once(',') {
                Some((field, after)) => (field, Some(after)),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err(bare_quote);
            }
            fields.push(field.to_owned());
            match after {
                Some(after) => rest = after,
                None => return Ok(fields),
            }
            continue;
        };
        let mut field = String::new();
        rest = quoted;
        loop {
            let Some(end) = rest.find('"') else {
                return Err(MountError::Csv {
                    reason: "a quoted field is not closed",
                });
            };
            field.push_str(&rest[..end]);
            rest = &rest[end + 1..];
            if let Some(after) = rest.strip_prefix('"') {
                field.push('"');
                rest = after;
            } else if let Some(after) = rest.strip_prefix(',') {
                fields.push(field);
                rest = after;
                break;
            } else if rest.is_empty() {
                fields.push(field);
                return Ok(fields);
            } else {
                return Err(MountError::Csv {
                    reason: "a `\"` inside a quoted field must be doubled",
                });
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(value, 10, 32)`: digits only.
fn decimal_u32(value: &str) -> Option<u32> {
    if value.starts_with('+') {
        return None;
    }
    value.parse().ok()
}

/// A size as Docker's `units.RAMInBytes` reads it: a decimal number, an optional space,
/// and an optional binary unit `b`, `k`, `m`, `g`, `t`, `p` with an optional `b` or `ib`
/// (`64m`, `1.5GiB`, `512 kb`), case-insensitive.
fn ram_in_bytes(text: &str) -> Option<u64> {
    let (number, suffix) = match text.split_once(' ') {
        Some(parts) => parts,
        None => {
            let end = text.rfind(|c: char| c.is_ascii_digit() || c == '.')?;
            text.split_at(end + 1)
        }
    };
    let size: f64 = number.parse().ok()?;
    if !size.is_finite() || size < 0.0 {
        return None;
    }
    let suffix = suffix.to_ascii_lowercase();
    let multiplier: u64 = match suffix.as_str() {
        "" | "b" => 1,
        _ => {
            let scale = match suffix.as_bytes()[0] {
                b'k' => 1 << 10,
                b'm' => 1 << 20,
                b'g' => 1 << 30,
                b't' => 1 << 40,
                b'p' => 1 << 50,
                _ => return None,
            };
            match &suffix[1..] {
                "" | "b" | "ib" => scale,
                _ => return None,
            }
        }
    };
    // Truncates toward zero and saturates, like Go's conversion on the sizes that occur.
    Some((size * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_expand(word: &str) -> Result<String, ExpandError> {
        Ok(word.to_owned())
    }

    fn mount(value: &str) -> Result<Mount, MountError> {
        parse_mount(value, &mut no_expand).map(|spec| spec.into_mount(None))
    }

    fn error(value: &str) -> String {
        mount(value).unwrap_err().to_string()
    }

    #[test]
    fn bind_is_the_default_and_read_only() {
        assert_eq!(
            mount("target=/src").unwrap(),
            Mount::Bind {
                target: "/src".into(),
                source: "/".into(),
                from: Source::Context,
                rw: false,
            }
        );
        assert_eq!(
            mount("type=bind,src=go.mod,dst=/x/go.mod,rw").unwrap(),
            Mount::Bind {
                target: "/x/go.mod".into(),
                source: "go.mod".into(),
                from: Source::Context,
                rw: true,
            }
        );
        let spec = parse_mount(
            "type=bind,from=builder,source=/out,target=/in",
            &mut no_expand,
        )
        .unwrap();
        assert_eq!(spec.from.as_deref(), Some("builder"));
        assert!(matches!(
            spec.into_mount(Some(Source::Stage(1))),
            Mount::Bind {
                from: Source::Stage(1),
                rw: false,
                ..
            }
        ));
    }

    #[test]
    fn cache_defaults() {
        assert_eq!(
            mount("type=cache,target=/root/.cache/go-build/").unwrap(),
            Mount::Cache {
                target: "/root/.cache/go-build/".into(),
                id: "/root/.cache/go-build".into(),
                sharing: Sharing::Shared,
                from: None,
                source: "/".into(),
                readonly: false,
                mode: 0o755,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            mount("Type=Cache,id=apt,target=/var/cache/apt,sharing=LOCKED,mode=0700,uid=100,gid=101,readonly=true")
                .unwrap(),
            Mount::Cache {
                target: "/var/cache/apt".into(),
                id: "apt".into(),
                sharing: Sharing::Locked,
                from: None,
                source: "/".into(),
                readonly: true,
                mode: 0o700,
                uid: 100,
                gid: 101,
            }
        );
    }

    #[test]
    fn tmpfs_size() {
        assert_eq!(
            mount("type=tmpfs,target=/tmp,size=64m").unwrap(),
            Mount::Tmpfs {
                target: "/tmp".into(),
                size: Some(64 << 20)
            }
        );
        assert_eq!(
            mount("type=tmpfs,target=/tmp").unwrap(),
            Mount::Tmpfs {
                target: "/tmp".into(),
                size: None
            }
        );
        assert_eq!(
            error("size=1m,type=tmpfs"),
            "`size` is not allowed for a `bind` mount"
        );
    }

    #[test]
    fn secret_defaults() {
        assert_eq!(
            mount("type=secret,id=aws").unwrap(),
            Mount::Secret {
                id: "aws".into(),
                target: Some("/run/secrets/aws".into()),
                env: None,
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            mount("type=secret,target=/etc/token,required").unwrap(),
            Mount::Secret {
                id: "token".into(),
                target: Some("/etc/token".into()),
                env: None,
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            mount("type=secret,id=tok,env=TOKEN,required=false,mode=0444,uid=1").unwrap(),
            Mount::Secret {
                id: "tok".into(),
                target: None,
                env: Some("TOKEN".into()),
                required: false,
                mode: 0o444,
                uid: 1,
                gid: 0,
            }
        );
        assert_eq!(
            error("type=secret"),
            "invalid `secret` mount: one of `id`, `source` or `target` is required"
        );
        assert_eq!(
            error("type=secret,id=a,source=b"),
            "invalid `secret` mount: `source` and `id` cannot both be set"
        );
        assert_eq!(
            error("type=secret,id=a,from=x"),
            "invalid `secret` mount: a secret mount has no `from`"
        );
    }

    #[test]
    fn ssh_defaults() {
        assert_eq!(
            mount("type=ssh").unwrap(),
            Mount::Ssh {
                id: "default".into(),
                target: None,
                required: false,
                mode: 0o600,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            mount("type=ssh,id=gh,target=/ssh.sock,required=1").unwrap(),
            Mount::Ssh {
                id: "gh".into(),
                target: Some("/ssh.sock".into()),
                required: true,
                mode: 0o600,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            error("type=ssh,source=x"),
            "`source` is not allowed for a `ssh` mount"
        );
    }

    #[test]
    fn invalid_fields() {
        assert_eq!(
            error("type=cach"),
            "unsupported mount type `cach`: expected `bind`, `cache`, `tmpfs`, `secret` or `ssh`: did you mean `cache`?"
        );
        assert_eq!(
            error("type=cache,traget=/x"),
            "unknown key `traget` in `--mount`: expected one of `type`, `from`, `source`, `target`, `readonly`, `readwrite`, `id`, `sharing`, `required`, `size`, `mode`, `uid`, `gid`, `env`: did you mean `target`?"
        );
        assert_eq!(
            error("type=cache,nope"),
            "invalid field `nope` in `--mount`: expected `key=value`"
        );
        assert_eq!(
            error("required,type=secret,id=x"),
            "`required` is not allowed for a `bind` mount"
        );
        assert_eq!(
            error("target=/x,uid=1"),
            "`uid` is not allowed for a `bind` mount"
        );
        assert_eq!(
            error("type=tmpfs,target=/x,mode=700"),
            "`mode` is not allowed for a `tmpfs` mount"
        );
        assert_eq!(
            error("type=bind,target=/x,sharing=private"),
            "`sharing` is not allowed for a `bind` mount"
        );
        assert_eq!(
            error("type=cache,target=/x,sharing=all"),
            "unsupported sharing `all`: expected `shared`, `private` or `locked`"
        );
        assert_eq!(
            error("type=cache,target=/x,mode=9"),
            "invalid value `9` for `mode` in `--mount`: expected an octal mode"
        );
        assert_eq!(
            error("type=cache,target=/x,uid=-1"),
            "invalid value `-1` for `uid` in `--mount`: expected a number"
        );
        assert_eq!(
            error("target=/x,ro=yes"),
            "invalid value `yes` for `ro` in `--mount`: expected a boolean"
        );
        assert_eq!(
            error("type=cache,target=//"),
            "invalid `cache` mount: the target cannot be `/`"
        );
        assert_eq!(
            error("from=$STAGE,target=/x"),
            "`from` in `--mount` does not support variable expansion: define a stage with `FROM` from a global `ARG` and mount that"
        );
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields("type=bind,\"source=a,b\",\"x=\"\"q\"\"\"\n").unwrap(),
            ["type=bind", "source=a,b", "x=\"q\""]
        );
        assert_eq!(csv_fields("a,,b,").unwrap(), ["a", "", "b", ""]);
        assert!(csv_fields("").is_err());
        assert!(csv_fields("a\"b").is_err());
        assert!(csv_fields("\"ab").is_err());
        assert!(csv_fields("\"a\"b").is_err());
        assert_eq!(
            error("target=/x,"),
            "invalid field `` in `--mount`: expected `key=value`"
        );
    }

    #[test]
    fn values_are_expanded() {
        let mut expand = |word: &str| Ok(word.replace("$DIR", "/cache"));
        let spec = parse_mount("type=cache,target=$DIR,id=x$DIR", &mut expand).unwrap();
        assert!(matches!(
            spec.into_mount(None),
            Mount::Cache { ref target, ref id, .. } if target == "/cache" && id == "x/cache"
        ));
    }

    #[test]
    fn sizes_are_binary() {
        let cases = [
            ("0", Some(0)),
            ("512", Some(512)),
            ("32b", Some(32)),
            ("1k", Some(1024)),
            ("1KiB", Some(1024)),
            ("1kb", Some(1024)),
            ("1.5m", Some(3 << 19)),
            ("2 GB", Some(2 << 30)),
            ("1p", Some(1 << 50)),
            ("", None),
            ("m", None),
            ("1x", None),
            ("1kib2", None),
            ("1mm", None),
            ("-1", None),
            ("1bb", None),
        ];
        for (text, expected) in cases {
            assert_eq!(ram_in_bytes(text), expected, "{text:?}");
        }
    }
}
