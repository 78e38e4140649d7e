//! Cache keys: a stable, versioned, length-prefixed encoding of what a step does.
//!
//! A step's key is `sha256("mkimage-cache-v2" ‖ parent ‖ canonical(op) ‖ inputs)`. The
//! encoding is written by hand, field by field in a fixed order, rather than derived
//! (`#[derive(Hash)]` or JSON of a map), so that keys are equal across runs, machines and
//! compiler versions. Every value is preceded by a one-byte tag and every variable-length
//! value by its length, so no two different inputs encode to the same bytes.
//!
//! Each plan type is encoded by destructuring it completely: adding a field to a plan type
//! does not compile until this file says whether the field is part of the key.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::plan::{
    AddOptions, Command, Copy, CopySource, Healthcheck, HealthcheckOptions, InlineFile, KeyValue,
    Mount, Network, Op, Platform, Run, Security, Sharing, Source,
};

/// The version of the keys: bumped when the key encoding changes, and when what a step
/// produces changes for the same key (v2: `--chown`/WORKDIR owners as BuildKit gives them,
/// tar mode fields with file-type bits), so that results of an older mkimage are not
/// reused and a warm store builds the same digests as a fresh one.
pub(crate) const VERSION: &str = "mkimage-cache-v2";

/// The cache key of a step: the digest of everything its result depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CacheKey(Digest);

impl CacheKey {
    /// The key as a digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The hex part of the key, usable as a file name.
    pub fn hex(&self) -> &str {
        self.0.digest()
    }
}

/// Keys sort by their text, so that maps of them (a cache artifact's records) are
/// written in one order.
impl Ord for CacheKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_ref().cmp(other.0.as_ref())
    }
}

impl PartialOrd for CacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CacheKey {
    type Err = oci_spec::OciSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Digest::from_str(text).map(CacheKey)
    }
}

impl TryFrom<String> for CacheKey {
    type Error = oci_spec::OciSpecError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<CacheKey> for String {
    fn from(key: CacheKey) -> String {
        key.to_string()
    }
}

/// What a stage's first step hangs off.
#[derive(Debug, Clone, Copy)]
pub enum BaseKey<'a> {
    /// `FROM scratch`.
    Scratch,
    /// An image, by its manifest digest (never its tag).
    Image(&'a Digest),
    /// An earlier stage, by the key of its last step.
    Stage(&'a CacheKey),
}

/// The key a stage starts from, before its first step.
pub fn base_key(base: BaseKey<'_>, platform: &Platform) -> CacheKey {
    let mut key = KeyBuilder::new("base");
    match base {
        BaseKey::Scratch => key.tag(0),
        BaseKey::Image(digest) => key.tag(1).digest(digest),
        BaseKey::Stage(stage) => key.tag(2).key(stage),
    };
    key.str(&platform.to_string());
    key.finish()
}

/// The key of a step: its parent's key, what it does, and the digests of what it reads
/// (the content of its `COPY` sources, the results of stages it reads from), in order.
pub fn step_key(parent: &CacheKey, op: &Op, inputs: &[Digest]) -> CacheKey {
    let mut key = KeyBuilder::new("step");
    key.key(parent);
    op.encode(&mut key);
    key.list(inputs, |key, input| {
        key.digest(input);
    });
    key.finish()
}

/// Builds a key from tagged, length-prefixed values.
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// Starts a key of the given kind (`step`, `base`, …).
    pub fn new(kind: &str) -> Self {
        let mut key = Self {
            hasher: Sha256::new(),
        };
        key.str(VERSION).str(kind);
        key
    }

    /// Adds a one-byte tag (an enum variant).
    pub fn tag(&mut self, tag: u8) -> &mut Self {
        self.hasher.update([b't', tag]);
        self
    }

    /// Adds a string.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// Adds bytes.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.hasher.update([b's']);
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// Adds a number.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.hasher.update([b'n']);
        self.hasher.update(value.to_le_bytes());
        self
    }

    /// Adds a flag.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.hasher.update([b'b', u8::from(value)]);
        self
    }

    /// Adds an optional string.
    pub fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.tag(0),
            Some(value) => self.tag(1).str(value),
        }
    }

    /// Adds a digest.
    pub fn digest(&mut self, value: &Digest) -> &mut Self {
        self.str(value.as_ref())
    }

    /// Adds another key.
    pub fn key(&mut self, value: &CacheKey) -> &mut Self {
        self.digest(&value.0)
    }

    /// Adds a list: its length, then each item.
    pub fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) -> &mut Self {
        self.hasher.update([b'l']);
        self.hasher.update((items.len() as u64).to_le_bytes());
        for item in items {
            each(self, item);
        }
        self
    }

    /// The key.
    pub fn finish(self) -> CacheKey {
        let hex = hex::encode(self.hasher.finalize());
        CacheKey(
            oci_spec::image::Sha256Digest::from_str(&hex)
                .expect("a SHA-256 output is 64 lowercase hex digits")
                .into(),
        )
    }
}

/// A value that is part of a cache key.
trait Encode {
    fn encode(&self, key: &mut KeyBuilder);
}

impl Encode for Op {
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            Op::Run(run) => {
                key.tag(0);
                run.encode(key);
            }
            Op::Copy(copy) => {
                key.tag(1);
                copy.encode(key);
            }
            Op::Env(pairs) => {
                key.tag(2).list(pairs, |key, pair| pair.encode(key));
            }
            Op::Label(pairs) => {
                key.tag(3).list(pairs, |key, pair| pair.encode(key));
            }
            Op::Maintainer(name) => {
                key.tag(4).str(name);
            }
            Op::User(user) => {
                key.tag(5).str(user);
            }
            Op::Workdir(dir) => {
                key.tag(6).str(dir);
            }
            Op::Expose(ports) => {
                key.tag(7).list(ports, |key, port| {
                    key.str(port);
                });
            }
            Op::Volume(volumes) => {
                key.tag(8).list(volumes, |key, volume| {
                    key.str(volume);
                });
            }
            Op::Cmd(command) => {
                key.tag(9);
                command.encode(key);
            }
            Op::Entrypoint(command) => {
                key.tag(10);
                command.encode(key);
            }
            Op::Shell(shell) => {
                key.tag(11).list(shell, |key, word| {
                    key.str(word);
                });
            }
            Op::Healthcheck(check) => {
                key.tag(12);
                check.encode(key);
            }
            Op::StopSignal(signal) => {
                key.tag(13).str(signal);
            }
            Op::Onbuild(trigger) => {
                key.tag(14).str(trigger);
            }
        }
    }
}

impl Encode for KeyValue {
    fn encode(&self, key: &mut KeyBuilder) {
        let KeyValue { key: name, value } = self;
        key.str(name).str(value);
    }
}

impl Encode for Command {
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            Command::Shell(text) => {
                key.tag(0).str(text);
            }
            Command::Exec(argv) => {
                key.tag(1).list(argv, |key, arg| {
                    key.str(arg);
                });
            }
        }
    }
}

impl Encode for Run {
    fn encode(&self, key: &mut KeyBuilder) {
        // `proxy_env` is left out on purpose: as in Docker, a different proxy does not
        // change what a step produces.
        let Run {
            command,
            files,
            mounts,
            network,
            security,
            env,
            proxy_env: _,
            extra_hosts,
        } = self;
        command.encode(key);
        key.list(files, |key, file| file.encode(key));
        key.list(mounts, |key, mount| mount.encode(key));
        network.encode(key);
        security.encode(key);
        key.list(env, |key, pair| pair.encode(key));
        // Only when given, so that the keys of steps without them stay those of earlier
        // versions.
        if !extra_hosts.is_empty() {
            key.tag(1).list(extra_hosts, |key, pair| pair.encode(key));
        }
    }
}

impl Encode for InlineFile {
    fn encode(&self, key: &mut KeyBuilder) {
        let InlineFile { name, content } = self;
        key.str(name).str(content);
    }
}

impl Encode for Network {
    fn encode(&self, key: &mut KeyBuilder) {
        key.tag(match self {
            Network::Default => 0,
            Network::None => 1,
            Network::Host => 2,
        });
    }
}

impl Encode for Security {
    fn encode(&self, key: &mut KeyBuilder) {
        key.tag(match self {
            Security::Sandbox => 0,
            Security::Insecure => 1,
        });
    }
}

impl Encode for Sharing {
    fn encode(&self, key: &mut KeyBuilder) {
        key.tag(match self {
            Sharing::Shared => 0,
            Sharing::Private => 1,
            Sharing::Locked => 2,
        });
    }
}

impl Encode for Source {
    /// Only the kind of a stage source is encoded, not its index: indexes change when a
    /// plan is pruned. The caller passes what the stage produced as an input of the step.
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            Source::Context => key.tag(0),
            Source::Stage(_) => key.tag(1),
            Source::Image(reference) => key.tag(2).str(reference),
        };
    }
}

impl Encode for Mount {
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            Mount::Bind {
                target,
                source,
                from,
                rw,
            } => {
                key.tag(0).str(target).str(source);
                from.encode(key);
                key.bool(*rw);
            }
            Mount::Cache {
                target,
                id,
                sharing,
                from,
                source,
                readonly,
                mode,
                uid,
                gid,
            } => {
                key.tag(1).str(target).str(id);
                sharing.encode(key);
                match from {
                    None => {
                        key.tag(0);
                    }
                    Some(from) => {
                        key.tag(1);
                        from.encode(key);
                    }
                }
                key.str(source)
                    .bool(*readonly)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid));
            }
            Mount::Tmpfs { target, size } => {
                key.tag(2).str(target);
                match size {
                    None => key.tag(0),
                    Some(size) => key.tag(1).u64(*size),
                };
            }
            // A secret's value is never part of a key; where and how it is mounted is.
            Mount::Secret {
                id,
                target,
                env,
                required,
                mode,
                uid,
                gid,
            } => {
                key.tag(3)
                    .str(id)
                    .opt_str(target.as_deref())
                    .opt_str(env.as_deref())
                    .bool(*required)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid));
            }
            Mount::Ssh {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                key.tag(4)
                    .str(id)
                    .opt_str(target.as_deref())
                    .bool(*required)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid));
            }
        }
    }
}

impl Encode for Copy {
    fn encode(&self, key: &mut KeyBuilder) {
        let Copy {
            from,
            sources,
            dest,
            chown,
            chmod,
            link,
            parents,
            exclude,
            add,
        } = self;
        from.encode(key);
        key.list(sources, |key, source| source.encode(key));
        key.str(dest)
            .opt_str(chown.as_deref())
            .opt_str(chmod.as_deref())
            .bool(*link)
            .bool(*parents)
            .list(exclude, |key, pattern| {
                key.str(pattern);
            });
        match add {
            None => {
                key.tag(0);
            }
            Some(add) => {
                key.tag(1);
                add.encode(key);
            }
        }
    }
}

impl Encode for CopySource {
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            CopySource::Path(path) => {
                key.tag(0).str(path);
            }
            CopySource::Inline(file) => {
                key.tag(1);
                file.encode(key);
            }
            CopySource::Url(url) => {
                key.tag(2).str(url);
            }
            CopySource::Git(url) => {
                key.tag(3).str(url);
            }
        }
    }
}

impl Encode for AddOptions {
    fn encode(&self, key: &mut KeyBuilder) {
        let AddOptions {
            checksum,
            keep_git_dir,
            unpack,
        } = self;
        key.opt_str(checksum.as_deref()).bool(*keep_git_dir);
        match unpack {
            None => key.tag(0),
            Some(unpack) => key.tag(1).bool(*unpack),
        };
    }
}

impl Encode for Healthcheck {
    fn encode(&self, key: &mut KeyBuilder) {
        match self {
            Healthcheck::None => {
                key.tag(0);
            }
            Healthcheck::Check { test, options } => {
                key.tag(1);
                test.encode(key);
                options.encode(key);
            }
        }
    }
}

impl Encode for HealthcheckOptions {
    fn encode(&self, key: &mut KeyBuilder) {
        let HealthcheckOptions {
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } = self;
        for duration in [interval, timeout, start_period, start_interval] {
            match duration {
                None => key.tag(0),
                Some(nanos) => key.tag(1).u64(*nanos),
            };
        }
        match retries {
            None => key.tag(0),
            Some(retries) => key.tag(1).u64(u64::from(*retries)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> CacheKey {
        base_key(BaseKey::Scratch, &"linux/amd64".parse().unwrap())
    }

    #[test]
    fn keys_are_stable_across_versions_of_the_program() {
        // Pinned: a change here means every user's cache is invalidated; bump VERSION.
        let op = Op::Copy(Copy::new(vec![".".into()], "/app"));
        assert_eq!(
            step_key(&scratch(), &op, &[]).to_string(),
            "sha256:9de4817041f28251dc900412bbc902cf18fe98cedfd904aa344261deb00d8581"
        );
    }

    #[test]
    fn length_prefixes_keep_neighbouring_fields_apart() {
        let a = Op::Env(vec![KeyValue::new("AB", "C")]);
        let b = Op::Env(vec![KeyValue::new("A", "BC")]);
        assert_ne!(step_key(&scratch(), &a, &[]), step_key(&scratch(), &b, &[]));
    }

    #[test]
    fn stage_indexes_are_not_part_of_a_key() {
        let from = |index| {
            Op::Copy(Copy {
                from: Source::Stage(index),
                ..Copy::new(vec!["/out".into()], "/")
            })
        };
        assert_eq!(
            step_key(&scratch(), &from(0), &[]),
            step_key(&scratch(), &from(3), &[])
        );
    }

    #[test]
    fn proxy_settings_are_not_part_of_a_key_but_build_args_are() {
        let run = |env: Vec<KeyValue>, proxy: Vec<KeyValue>| {
            Op::Run(Run {
                env,
                proxy_env: proxy,
                ..Run::new(Command::Shell("make".into()))
            })
        };
        let plain = step_key(&scratch(), &run(vec![], vec![]), &[]);
        let proxied = run(vec![], vec![KeyValue::new("http_proxy", "http://p:3128")]);
        let with_arg = run(vec![KeyValue::new("VERSION", "2")], vec![]);
        assert_eq!(plain, step_key(&scratch(), &proxied, &[]));
        assert_ne!(plain, step_key(&scratch(), &with_arg, &[]));
    }

    #[test]
    fn inputs_and_parents_change_the_key() {
        let op = Op::Copy(Copy::new(vec![".".into()], "/app"));
        let one = crate::digest::sha256(b"one");
        let two = crate::digest::sha256(b"two");
        assert_ne!(
            step_key(&scratch(), &op, std::slice::from_ref(&one)),
            step_key(&scratch(), &op, std::slice::from_ref(&two))
        );
        let arm = base_key(BaseKey::Scratch, &"linux/arm64".parse().unwrap());
        assert_ne!(step_key(&scratch(), &op, &[]), step_key(&arm, &op, &[]));
    }

    #[test]
    fn keys_round_trip_through_text() {
        let key = scratch();
        assert_eq!(key.to_string().parse::<CacheKey>().unwrap(), key);
        assert_eq!(key.hex().len(), 64);
    }
}
