//! What a step does.
//!
//! Every string here is final: the frontend has expanded variables and parsed flags. Paths
//! inside the image are absolute or relative to the stage's working directory, as written.

use serde::{Deserialize, Serialize};

/// What one step does to the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Run a command in a sandbox over the image's filesystem; its changes become a layer.
    Run(Run),
    /// Copy files into the image (`COPY`, and `ADD` when [`Copy::add`] is set).
    Copy(Copy),
    /// Set environment variables in the config, in order.
    Env(Vec<KeyValue>),
    /// Set labels in the config, in order.
    Label(Vec<KeyValue>),
    /// Set the config's author (`MAINTAINER`).
    Maintainer(String),
    /// Set the user (`name`, `uid`, `name:group`, `uid:gid`).
    User(String),
    /// Set the working directory, creating it in the filesystem if missing. A relative path
    /// is resolved against the current working directory.
    Workdir(String),
    /// Add exposed ports, each normalized to `port/proto` (`80/tcp`, `53/udp`).
    Expose(Vec<String>),
    /// Add volumes (absolute paths).
    Volume(Vec<String>),
    /// Set the default command.
    Cmd(Command),
    /// Set the entrypoint; this also clears a `CMD` inherited from the base image or set
    /// earlier in the stage, as Docker does.
    Entrypoint(Command),
    /// Set the shell used for the shell form of later `RUN`, `CMD` and `ENTRYPOINT`.
    Shell(Vec<String>),
    /// Set or disable the health check.
    Healthcheck(Healthcheck),
    /// Set the signal that stops the container (`SIGTERM`, `9`).
    StopSignal(String),
    /// Record a trigger that runs when another build starts `FROM` this image. The text is
    /// the instruction as written (`RUN echo hi`).
    Onbuild(String),
}

/// A key and a value (`ENV`, `LABEL`, build arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl KeyValue {
    /// A key-value pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A command in shell form or exec form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Shell form: run by the current shell (`SHELL`, default `/bin/sh -c`).
    Shell(String),
    /// Exec form: the program and its arguments, run directly.
    Exec(Vec<String>),
}

/// A `RUN` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The command.
    pub command: Command,
    /// Files made available read-only under `/dev/pipes/` while the command runs (the body of
    /// a heredoc that is executed as a script). Never part of the layer.
    pub files: Vec<InlineFile>,
    /// Mounts for this step only (`--mount`).
    pub mounts: Vec<Mount>,
    /// Network access (`--network`).
    pub network: Network,
    /// Security mode (`--security`).
    pub security: Security,
    /// The build arguments in effect, given to the command as environment variables (in
    /// place of the image's variables of the same name) but not kept in the image config.
    /// Part of the cache key.
    pub env: Vec<KeyValue>,
    /// Proxy settings from the build arguments (`HTTP_PROXY` and `http_proxy`, …), given to
    /// the command as environment variables. As in Docker, not part of the cache key, so a
    /// different proxy does not rebuild the step.
    #[serde(default)]
    pub proxy_env: Vec<KeyValue>,
    /// Extra `/etc/hosts` entries (`--add-host`): each host name and its IP address. Part
    /// of the cache key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<KeyValue>,
}

impl Run {
    /// A `RUN` of `command` with no mounts, default network and no build arguments.
    pub fn new(command: Command) -> Self {
        Self {
            command,
            files: Vec::new(),
            mounts: Vec::new(),
            network: Network::Default,
            security: Security::Sandbox,
            env: Vec::new(),
            proxy_env: Vec::new(),
            extra_hosts: Vec::new(),
        }
    }
}

/// A file whose content is part of the plan (a heredoc body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineFile {
    /// The file name (the heredoc delimiter word).
    pub name: String,
    /// The content, final (expanded if the heredoc asked for it).
    pub content: String,
}

/// The network a `RUN` step sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The builder's default: a private network namespace with outbound access, as
    /// docker's bridge gives (the host's loopback is out of reach).
    #[default]
    Default,
    /// A private network namespace with loopback only.
    None,
    /// The host's network.
    Host,
}

/// The security mode of a `RUN` step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// The normal sandbox.
    #[default]
    Sandbox,
    /// All capabilities, as `--security=insecure` asks.
    Insecure,
}

/// A `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Mount {
    /// A directory or file from the context, a stage or an image.
    Bind {
        /// Where it appears in the sandbox.
        target: String,
        /// The path inside `from` (default the root).
        source: String,
        /// Where it comes from.
        from: Source,
        /// Writable; writes are discarded after the step.
        rw: bool,
    },
    /// A persistent cache directory, kept in the store between builds.
    Cache {
        /// Where it appears in the sandbox.
        target: String,
        /// The cache's identity (default: the target).
        id: String,
        /// How concurrent builds share it.
        sharing: Sharing,
        /// Where its initial content comes from when it is created; `None` starts it empty.
        from: Option<Source>,
        /// The path inside `from`.
        source: String,
        /// Mounted read-only.
        readonly: bool,
        /// Mode of the cache directory when created.
        mode: u32,
        /// Owner of the cache directory when created.
        uid: u32,
        /// Group of the cache directory when created.
        gid: u32,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Where it appears in the sandbox.
        target: String,
        /// Size limit in bytes, if any.
        size: Option<u64>,
    },
    /// A secret given to the build (`--secret id=…`), never written to a layer or a key.
    Secret {
        /// The secret's id.
        id: String,
        /// The file it appears as (default `/run/secrets/<id>`), unless `env` is set alone.
        target: Option<String>,
        /// An environment variable that receives the secret's value.
        env: Option<String>,
        /// Fail the step when the secret was not given.
        required: bool,
        /// File mode.
        mode: u32,
        /// File owner.
        uid: u32,
        /// File group.
        gid: u32,
    },
    /// The forwarded SSH agent socket (`--ssh default`).
    Ssh {
        /// The agent's id (default `default`).
        id: String,
        /// The socket path (default `/run/buildkit/ssh_agent.<n>`).
        target: Option<String>,
        /// Fail the step when the agent was not given.
        required: bool,
        /// Socket mode.
        mode: u32,
        /// Socket owner.
        uid: u32,
        /// Socket group.
        gid: u32,
    },
}

/// How a cache mount is shared between concurrent builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Used by all at once.
    #[default]
    Shared,
    /// Each concurrent user gets its own copy.
    Private,
    /// Users wait for one another.
    Locked,
}

/// Where files come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The build context.
    #[default]
    Context,
    /// The result of an earlier stage, by index.
    Stage(usize),
    /// An image, by reference (resolved like a base image).
    Image(String),
}

/// A `COPY` or `ADD` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    /// Where the sources are read from (`--from`).
    pub from: Source,
    /// The sources, in order.
    pub sources: Vec<CopySource>,
    /// The destination; a trailing `/` makes it a directory; relative to the working
    /// directory unless absolute.
    pub dest: String,
    /// Owner of the copied files (`user`, `uid`, `user:group`, `uid:gid`), resolved in the
    /// image's `/etc/passwd` and `/etc/group`.
    pub chown: Option<String>,
    /// Mode of the copied files, octal (`755`) or symbolic (`u+x`).
    pub chmod: Option<String>,
    /// `--link`: the layer does not depend on the files below it.
    pub link: bool,
    /// `--parents`: keep the sources' parent directories.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// Set for `ADD`: remote sources and archive extraction.
    pub add: Option<AddOptions>,
}

impl Copy {
    /// A plain `COPY` of context paths to `dest`.
    pub fn new(sources: Vec<String>, dest: impl Into<String>) -> Self {
        Self {
            from: Source::Context,
            sources: sources.into_iter().map(CopySource::Path).collect(),
            dest: dest.into(),
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            exclude: Vec::new(),
            add: None,
        }
    }
}

/// One source of a `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopySource {
    /// A path or wildcard pattern inside the source (`Copy::from`).
    Path(String),
    /// A file whose content is in the plan (a heredoc).
    Inline(InlineFile),
    /// An `http://` or `https://` URL (`ADD` only).
    Url(String),
    /// A git repository URL, with an optional `#ref:subdir` (`ADD` only).
    Git(String),
}

/// Options that only `ADD` has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOptions {
    /// Expected digest of a remote source (`--checksum=sha256:…`).
    pub checksum: Option<String>,
    /// Keep the `.git` directory of a git source.
    pub keep_git_dir: bool,
    /// Whether local archives are extracted; `None` is Docker's default (extract local
    /// archives, not downloaded ones).
    pub unpack: Option<bool>,
}

/// A `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [OPTIONS] CMD …`.
    Check {
        /// The command; the shell form becomes `CMD-SHELL` in the config.
        test: Command,
        /// The options.
        options: HealthcheckOptions,
    },
}

/// The options of a `HEALTHCHECK`. Durations are in nanoseconds, as in the image config;
/// `None` keeps Docker's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckOptions {
    /// `--interval`.
    pub interval: Option<u64>,
    /// `--timeout`.
    pub timeout: Option<u64>,
    /// `--start-period`.
    pub start_period: Option<u64>,
    /// `--start-interval`.
    pub start_interval: Option<u64>,
    /// `--retries`.
    pub retries: Option<u32>,
}

impl Op {
    /// The sources this step reads from other than the stage itself: `COPY --from` and
    /// `RUN --mount` sources.
    pub fn sources(&self) -> Vec<&Source> {
        match self {
            Op::Copy(copy) => vec![&copy.from],
            Op::Run(run) => run
                .mounts
                .iter()
                .filter_map(|mount| match mount {
                    Mount::Bind { from, .. } => Some(from),
                    Mount::Cache { from, .. } => from.as_ref(),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}
