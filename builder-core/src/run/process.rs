//! The command line and environment of a `RUN` step, from the image config and the plan.

use crate::exec::DEFAULT_PATH;
use crate::oci::RunConfig;
use crate::plan::{Command, KeyValue, Run};

/// The shell of the shell form when the image sets none.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The argv of the step: the shell form through the image's `SHELL`, the exec form as is.
pub(super) fn argv(config: &RunConfig, run: &Run) -> Vec<String> {
    match &run.command {
        Command::Exec(args) => args.clone(),
        Command::Shell(script) => {
            let mut argv: Vec<String> = match &config.shell {
                Some(shell) if !shell.is_empty() => shell.clone(),
                _ => DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect(),
            };
            argv.push(script.clone());
            argv
        }
    }
}

/// The environment of the step, as BuildKit builds it: the image's `ENV`, then the build
/// arguments in effect, which replace a variable of the same name (an `ARG` is only in
/// effect when no later `ENV` hid it, so `ENV` wins over an earlier `ARG` and a later `ARG`
/// over an earlier `ENV`), then the proxy variables that neither sets, then `PATH` and
/// `HOME` when still missing.
pub(super) fn env(config: &RunConfig, run: &Run, home: &str) -> Vec<String> {
    let mut env: Vec<String> = config.env.clone().unwrap_or_default();
    let position = |env: &[String], key: &str| {
        env.iter()
            .position(|var| var.split_once('=').map_or(var.as_str(), |(k, _)| k) == key)
    };
    let has = |env: &[String], key: &str| position(env, key).is_some();
    for KeyValue { key, value } in &run.env {
        let var = format!("{key}={value}");
        match position(&env, key) {
            Some(at) => env[at] = var,
            None => env.push(var),
        }
    }
    for KeyValue { key, value } in &run.proxy_env {
        if !has(&env, key) {
            env.push(format!("{key}={value}"));
        }
    }
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The step's command for messages: argv joined by spaces.
pub(super) fn shown(argv: &[String]) -> String {
    argv.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_form_uses_the_images_shell() {
        let run = Run::new(Command::Shell("echo hi".into()));
        let mut config = RunConfig::default();
        assert_eq!(argv(&config, &run), ["/bin/sh", "-c", "echo hi"]);
        config.shell = Some(vec!["/bin/bash".into(), "-euc".into()]);
        assert_eq!(argv(&config, &run), ["/bin/bash", "-euc", "echo hi"]);
        let exec = Run::new(Command::Exec(vec!["ls".into(), "-l".into()]));
        assert_eq!(argv(&config, &exec), ["ls", "-l"]);
    }

    #[test]
    fn args_in_effect_replace_env_and_defaults_fill_in() {
        let mut run = Run::new(Command::Shell("true".into()));
        run.env = vec![KeyValue::new("A", "arg"), KeyValue::new("B", "arg")];
        run.proxy_env = vec![
            KeyValue::new("http_proxy", "http://p"),
            KeyValue::new("C", "proxy"),
        ];
        let config = RunConfig {
            env: Some(vec!["A=env".into(), "C=env".into()]),
            ..RunConfig::default()
        };
        assert_eq!(
            env(&config, &run, "/root"),
            [
                "A=arg",
                "C=env",
                "B=arg",
                "http_proxy=http://p",
                &format!("PATH={DEFAULT_PATH}"),
                "HOME=/root"
            ]
        );
    }
}
