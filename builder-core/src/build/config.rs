//! The steps that only edit the image config, applied as `docker build` applies them.

use std::io;

use oci_spec::image::Digest;
use serde::Serialize;

use crate::oci::{CONFIG_LIMIT, HealthConfig, History, ImageConfig};
use crate::plan::slash_path::clean;
use crate::plan::{Command, Healthcheck, KeyValue, Op};

use super::BuildError;

/// The shell of the shell form when the image sets none.
pub(super) const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Docker's default `PATH`, set when a stage's base has none.
pub(super) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applies a config-only step to `config`. `cmd_set` tracks whether a `CMD` was set in
/// this stage: `ENTRYPOINT` clears only an inherited `CMD`, as BuildKit does. `WORKDIR`
/// only sets the directory here; creating it is the caller's.
///
/// Returns `false` for steps that are not config-only (`RUN`, `COPY`).
pub(super) fn apply(config: &mut ImageConfig, cmd_set: &mut bool, op: &Op) -> bool {
    let run = &mut config.config;
    match op {
        Op::Run(_) | Op::Copy(_) => return false,
        Op::Env(pairs) => {
            let env = run.env.get_or_insert_with(Vec::new);
            for KeyValue { key, value } in pairs {
                set_env(env, key, value);
            }
        }
        Op::Label(pairs) => {
            for KeyValue { key, value } in pairs {
                run.labels.insert(key.clone(), value.clone());
            }
        }
        Op::Maintainer(name) => config.author = Some(name.clone()),
        Op::User(user) => run.user = Some(user.clone()),
        Op::Workdir(dir) => run.working_dir = Some(workdir(run.working_dir.as_deref(), dir)),
        Op::Expose(ports) => run.exposed_ports.extend(ports.iter().cloned()),
        Op::Volume(volumes) => run.volumes.extend(volumes.iter().cloned()),
        Op::Cmd(command) => {
            run.cmd = Some(argv(run.shell.as_deref(), command));
            // BuildKit marks every `CMD` so, whatever its form.
            run.args_escaped = true;
            *cmd_set = true;
        }
        Op::Entrypoint(command) => {
            run.entrypoint = Some(argv(run.shell.as_deref(), command));
            if !*cmd_set {
                run.cmd = None;
            }
        }
        Op::Shell(shell) => run.shell = Some(shell.clone()),
        Op::Healthcheck(Healthcheck::None) => {
            run.healthcheck = Some(HealthConfig {
                test: vec!["NONE".to_owned()],
                ..HealthConfig::default()
            });
        }
        Op::Healthcheck(Healthcheck::Check { test, options }) => {
            let test = match test {
                Command::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
                Command::Exec(args) => std::iter::once("CMD".to_owned())
                    .chain(args.iter().cloned())
                    .collect(),
            };
            let nanos =
                |value: Option<u64>| value.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
            run.healthcheck = Some(HealthConfig {
                test,
                interval: nanos(options.interval),
                timeout: nanos(options.timeout),
                start_period: nanos(options.start_period),
                start_interval: nanos(options.start_interval),
                retries: options.retries.map_or(0, i64::from),
            });
        }
        Op::StopSignal(signal) => run.stop_signal = Some(signal.clone()),
        Op::Onbuild(trigger) => run
            .on_build
            .get_or_insert_with(Vec::new)
            .push(trigger.clone()),
    }
    true
}

/// About how large a stage's config is as JSON, kept up as its steps are applied, so that
/// the step that makes it too large fails where it is written, and the config is never
/// serialized whole for each step.
///
/// It starts at the size of the base's config; each step adds the size of its op (which
/// holds what the step sets: a replaced value is counted again), its history entry and
/// its layer's `diff_id`. Only a `CMD`, `ENTRYPOINT` or `HEALTHCHECK` in shell form adds a
/// little more, the shell's words, once. [`write_image`](crate::oci::write_image) checks
/// the real size.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConfigSize(usize);

impl ConfigSize {
    /// The size of `config`.
    pub(super) fn of(config: &ImageConfig) -> ConfigSize {
        ConfigSize(json_len(config))
    }

    /// Adds a step that applied `op`, recorded `history` and wrote a layer of `diff_id`.
    ///
    /// # Errors
    /// [`BuildError::ConfigTooLarge`] when the config is now larger than [`CONFIG_LIMIT`].
    pub(super) fn add(
        &mut self,
        op: &Op,
        history: &History,
        diff_id: Option<&Digest>,
    ) -> Result<(), BuildError> {
        // A separating comma per list item.
        let added = json_len(op) + json_len(history) + 1 + diff_id.map_or(0, |d| json_len(d) + 1);
        self.0 = self.0.saturating_add(added);
        if self.0 > CONFIG_LIMIT {
            return Err(BuildError::ConfigTooLarge {
                limit: CONFIG_LIMIT,
            });
        }
        Ok(())
    }
}

/// The bytes of `value` as compact JSON, which is also the length of its canonical form.
fn json_len(value: &impl Serialize) -> usize {
    /// Counts what is written to it.
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("plan and config types always serialize");
    counter.0
}

/// Sets `key` in an `Env` list of `KEY=VALUE` strings, in place when it is there.
pub(super) fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|item| item.split_once('=').map_or(item.as_str(), |(k, _)| k) == key)
    {
        Some(item) => *item = entry,
        None => env.push(entry),
    }
}

/// The working directory `dir` names from `current` (`/` when unset), as BuildKit's
/// `NormalizeWorkdir` writes it into the image config: an absolute path as written
/// (`/tmp/` keeps its slash), a relative one joined to `current` and cleaned, an empty
/// one `current`.
pub(super) fn workdir(current: Option<&str>, dir: &str) -> String {
    let current = current.filter(|c| !c.is_empty()).unwrap_or("/");
    if dir.starts_with('/') {
        dir.to_owned()
    } else if dir.is_empty() {
        current.to_owned()
    } else {
        clean(&format!("/{current}/{dir}"))
    }
}

/// The argv of a command: exec form as it is, shell form run by `shell`.
fn argv(shell: Option<&[String]>, command: &Command) -> Vec<String> {
    match command {
        Command::Exec(args) => args.clone(),
        Command::Shell(text) => {
            let mut argv: Vec<String> = match shell {
                Some(shell) => shell.to_vec(),
                None => DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect(),
            };
            argv.push(text.clone());
            argv
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entrypoint_clears_only_an_inherited_cmd() {
        let mut config = ImageConfig::default();
        config.config.cmd = Some(vec!["inherited".into()]);
        let mut cmd_set = false;
        apply(
            &mut config,
            &mut cmd_set,
            &Op::Entrypoint(Command::Exec(vec!["e".into()])),
        );
        assert_eq!(config.config.cmd, None);
        apply(
            &mut config,
            &mut cmd_set,
            &Op::Cmd(Command::Shell("run".into())),
        );
        apply(
            &mut config,
            &mut cmd_set,
            &Op::Entrypoint(Command::Exec(vec!["f".into()])),
        );
        assert_eq!(
            config.config.cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "run".into()])
        );
    }

    #[test]
    fn workdir_resolves_against_the_current_one() {
        assert_eq!(workdir(None, "app"), "/app");
        assert_eq!(workdir(Some("/app"), "../srv/./x/"), "/srv/x");
        assert_eq!(workdir(Some("/app"), "/"), "/");
        assert_eq!(workdir(Some("/tmp/"), "x"), "/tmp/x");
        assert_eq!(workdir(Some("app"), "x"), "/app/x");
        assert_eq!(workdir(Some("/app"), ""), "/app");
        assert_eq!(workdir(Some("/app"), "../../.."), "/");
    }

    // See: issue 17
    #[test]
    fn an_absolute_workdir_is_kept_as_written() {
        assert_eq!(workdir(None, "/tmp/"), "/tmp/");
        assert_eq!(workdir(Some("/app"), "/a/./b//"), "/a/./b//");
    }
}
