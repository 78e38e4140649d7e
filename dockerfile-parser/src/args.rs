//! Build arguments and the variables in scope, with Docker's rules.
//!
//! - The *global* scope holds the predefined platform arguments (`TARGETPLATFORM`,
//!   `BUILDARCH`, …, overridable by `--build-arg`) and the `ARG`s before the first `FROM`.
//!   It is only seen by `FROM` lines.
//! - A stage's scope starts with its base's environment: the base image's config `ENV`
//!   (with Docker's default `PATH` when it has none) or, for `FROM <stage>`, everything in
//!   scope at the end of that stage, its `ARG`s included. `ENV` and `ARG` add to it in
//!   order, and later expansions in the stage see it.
//! - `ARG NAME` in a stage takes, in this order: the `--build-arg` value, the default
//!   written after `=` (expanded in the stage's scope), the global value of the same name.
//!   Without any, `NAME` stays unset.
//! - `--build-arg` values of arguments that no `ARG` declares are not visible, except the
//!   proxy settings (`HTTP_PROXY`, `no_proxy`, …): those reach every `RUN` but, as in
//!   Docker, neither the cache key nor the image.

use std::collections::{BTreeMap, HashMap};

use mkimage_plan::{KeyValue, Platform};

use crate::expand::Env;

/// Docker's `PATH` for a Linux image whose config sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether a variable came from `ENV` (kept in the image) or `ARG` (only given to `RUN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Env,
    Arg,
}

/// Variables in scope, each with the order in which it was last set. A map, so that a
/// stage of many `ARG`s and `ENV`s is not quadratic to lower.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    vars: HashMap<String, Var>,
    /// The order number of the next variable set.
    next: u64,
}

/// A variable's value, kind and when it was last set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Var {
    value: String,
    kind: Kind,
    order: u64,
}

impl Env for Scope {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|var| var.value.as_str())
    }
}

impl Scope {
    /// The scope at the start of a stage whose base image's config has `env`: that
    /// environment, plus Docker's default `PATH` if it has none.
    pub(crate) fn from_image_env(env: &[KeyValue]) -> Self {
        let mut scope = Scope::default();
        for pair in env {
            scope.set(&pair.key, &pair.value, Kind::Env);
        }
        if scope.get("PATH").is_none() {
            scope.set("PATH", DEFAULT_PATH, Kind::Env);
        }
        scope
    }

    /// Sets an environment variable (`ENV`).
    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        self.set(key, value, Kind::Env);
    }

    fn set(&mut self, key: &str, value: &str, kind: Kind) {
        let var = Var {
            value: value.to_owned(),
            kind,
            order: self.next,
        };
        self.next += 1;
        self.vars.insert(key.to_owned(), var);
    }

    /// The names in scope, in no order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// The bytes of the names and values in scope.
    pub(crate) fn text_len(&self) -> usize {
        self.vars
            .iter()
            .map(|(key, var)| key.len() + var.value.len())
            .sum()
    }

    /// The build arguments in effect, in order: what a `RUN` gets on top of the image's
    /// environment. An `ENV` of the same name set later hides an argument.
    pub(crate) fn run_env(&self) -> Vec<KeyValue> {
        let mut args: Vec<(&String, &Var)> = self
            .vars
            .iter()
            .filter(|(_, var)| var.kind == Kind::Arg)
            .collect();
        args.sort_unstable_by_key(|(_, var)| var.order);
        args.into_iter()
            .map(|(key, var)| KeyValue::new(key, &var.value))
            .collect()
    }
}

/// The `--build-arg` values and the global scope.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    build_args: BTreeMap<String, String>,
    globals: Scope,
}

impl Args {
    /// The predefined arguments for these platforms and target stage (`default` when the
    /// target has no name), each overridden by a `--build-arg` of the same name.
    pub(crate) fn new(
        build_args: BTreeMap<String, String>,
        target: &Platform,
        build: &Platform,
        target_stage: &str,
    ) -> Self {
        let mut globals = Scope::default();
        let target_stage = if target_stage.is_empty() {
            "default"
        } else {
            target_stage
        };
        let predefined = [
            ("BUILDPLATFORM", build.to_string()),
            ("BUILDOS", build.os().to_owned()),
            ("BUILDOSVERSION", String::new()),
            ("BUILDARCH", build.architecture().to_owned()),
            (
                "BUILDVARIANT",
                build.variant().unwrap_or_default().to_owned(),
            ),
            ("TARGETPLATFORM", target.to_string()),
            ("TARGETOS", target.os().to_owned()),
            ("TARGETOSVERSION", String::new()),
            ("TARGETARCH", target.architecture().to_owned()),
            (
                "TARGETVARIANT",
                target.variant().unwrap_or_default().to_owned(),
            ),
            ("TARGETSTAGE", target_stage.to_owned()),
        ];
        for (key, value) in predefined {
            let value = build_args.get(key).map_or(value.as_str(), String::as_str);
            globals.set(key, value, Kind::Arg);
        }
        Self {
            build_args,
            globals,
        }
    }

    /// The global scope, in which `FROM` lines are expanded.
    pub(crate) fn globals(&self) -> &Scope {
        &self.globals
    }

    /// Declares an `ARG` before the first `FROM`. A `--build-arg` wins over the default,
    /// which is only expanded (in the global scope, by `expand`) when it is used.
    pub(crate) fn declare_global<E>(
        &mut self,
        key: &str,
        default: Option<&str>,
        expand: &mut dyn FnMut(&str, &Scope) -> Result<String, E>,
    ) -> Result<(), E> {
        let value = match (self.build_args.get(key), default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => expand(default, &self.globals)?,
            (None, None) => return Ok(()),
        };
        self.globals.set(key, &value, Kind::Arg);
        Ok(())
    }

    /// Declares an `ARG` in a stage whose scope is `scope`.
    pub(crate) fn declare<E>(
        &self,
        scope: &mut Scope,
        key: &str,
        default: Option<&str>,
        expand: &mut dyn FnMut(&str, &Scope) -> Result<String, E>,
    ) -> Result<(), E> {
        let value = match (self.build_args.get(key), default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => expand(default, scope)?,
            (None, None) => match self.globals.get(key) {
                Some(value) => value.to_owned(),
                None => return Ok(()),
            },
        };
        scope.set(key, &value, Kind::Arg);
        Ok(())
    }

    /// The proxy settings among the build arguments, as every `RUN` gets them: for each of
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `FTP_PROXY`, `NO_PROXY` and `ALL_PROXY` given in any
    /// case, both the upper- and the lowercase variable. When several spellings are given,
    /// the one sorting last wins, as in Docker.
    pub(crate) fn proxy_env(&self) -> Vec<KeyValue> {
        let mut env = Vec::new();
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "FTP_PROXY",
            "NO_PROXY",
            "ALL_PROXY",
        ] {
            let value = self
                .build_args
                .iter()
                .filter(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
                .next_back();
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                env.push(KeyValue::new(name, value));
                env.push(KeyValue::new(name.to_ascii_lowercase(), value));
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        text.parse().unwrap()
    }

    fn args(build_args: &[(&str, &str)]) -> Args {
        let build_args = build_args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Args::new(
            build_args,
            &platform("linux/arm/v7"),
            &platform("linux/amd64"),
            "",
        )
    }

    /// Stands in for the expander: replaces `$NAME` for a few names.
    fn expand(text: &str, scope: &Scope) -> Result<String, String> {
        let mut out = text.to_owned();
        for name in ["A", "B", "PATH", "TARGETARCH"] {
            out = out.replace(&format!("${name}"), scope.get(name).unwrap_or_default());
        }
        if out.contains("$FAIL") {
            return Err(format!("failed on `{text}`"));
        }
        Ok(out)
    }

    #[test]
    fn platform_arguments_are_predefined() {
        let args = args(&[("BUILDARCH", "riscv64")]);
        let globals = args.globals();
        assert_eq!(globals.get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(globals.get("TARGETOS"), Some("linux"));
        assert_eq!(globals.get("TARGETARCH"), Some("arm"));
        assert_eq!(globals.get("TARGETVARIANT"), Some("v7"));
        assert_eq!(globals.get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(globals.get("BUILDOS"), Some("linux"));
        assert_eq!(globals.get("BUILDARCH"), Some("riscv64"));
        assert_eq!(globals.get("BUILDVARIANT"), Some(""));
        assert_eq!(globals.get("TARGETOSVERSION"), Some(""));
        assert_eq!(globals.get("TARGETSTAGE"), Some("default"));
    }

    #[test]
    fn global_arguments_take_build_args_over_defaults() {
        let mut args = args(&[("B", "from-cli")]);
        args.declare_global("A", Some("a-$TARGETARCH"), &mut expand)
            .unwrap();
        // The default is not even expanded when a build arg replaces it.
        args.declare_global("B", Some("$FAIL"), &mut expand)
            .unwrap();
        args.declare_global("C", None, &mut expand).unwrap();
        assert_eq!(args.globals().get("A"), Some("a-arm"));
        assert_eq!(args.globals().get("B"), Some("from-cli"));
        assert_eq!(args.globals().get("C"), None);
        assert_eq!(
            args.declare_global("D", Some("$FAIL"), &mut expand),
            Err("failed on `$FAIL`".to_owned())
        );
    }

    #[test]
    fn a_stage_sees_globals_only_when_it_redeclares_them() {
        let mut args = args(&[]);
        args.declare_global("A", Some("global"), &mut expand)
            .unwrap();
        let mut scope = Scope::from_image_env(&[]);
        assert_eq!(scope.get("A"), None);
        assert_eq!(scope.get("TARGETARCH"), None);
        args.declare(&mut scope, "A", None, &mut expand).unwrap();
        args.declare(&mut scope, "TARGETARCH", None, &mut expand)
            .unwrap();
        args.declare(&mut scope, "UNKNOWN", None, &mut expand)
            .unwrap();
        assert_eq!(scope.get("A"), Some("global"));
        assert_eq!(scope.get("TARGETARCH"), Some("arm"));
        assert_eq!(scope.get("UNKNOWN"), None);
    }

    #[test]
    fn stage_arguments_take_build_arg_then_default_then_global() {
        let mut args = args(&[("B", "cli")]);
        args.declare_global("A", Some("global"), &mut expand)
            .unwrap();
        let mut scope = Scope::from_image_env(&[]);
        args.declare(&mut scope, "A", Some("local-$B"), &mut expand)
            .unwrap();
        assert_eq!(scope.get("A"), Some("local-"));
        args.declare(&mut scope, "B", Some("default"), &mut expand)
            .unwrap();
        assert_eq!(scope.get("B"), Some("cli"));
        args.declare(&mut scope, "A", Some("again-$B"), &mut expand)
            .unwrap();
        assert_eq!(scope.get("A"), Some("again-cli"));
    }

    #[test]
    fn env_and_args_share_a_scope() {
        let args = args(&[]);
        let mut scope = Scope::from_image_env(&[KeyValue::new("PATH", "/go/bin:/bin")]);
        scope.set_env("A", "env");
        args.declare(&mut scope, "B", Some("$PATH:$A"), &mut expand)
            .unwrap();
        assert_eq!(scope.get("B"), Some("/go/bin:/bin:env"));
        args.declare(&mut scope, "A", Some("arg"), &mut expand)
            .unwrap();
        assert_eq!(scope.get("A"), Some("arg"));
        assert_eq!(
            scope.run_env(),
            [
                KeyValue::new("B", "/go/bin:/bin:env"),
                KeyValue::new("A", "arg")
            ]
        );
        // A later ENV hides the argument from RUN: the image's value is the one in effect.
        scope.set_env("B", "env-b");
        assert_eq!(scope.run_env(), [KeyValue::new("A", "arg")]);
    }

    #[test]
    fn images_without_path_get_docker_s() {
        let scope = Scope::from_image_env(&[KeyValue::new("HOME", "/root")]);
        assert_eq!(scope.get("PATH"), Some(DEFAULT_PATH));
        assert_eq!(scope.get("HOME"), Some("/root"));
        assert_eq!(scope.run_env(), []);
    }

    #[test]
    fn proxies_reach_run_in_both_spellings() {
        let args = args(&[
            ("HTTP_PROXY", "http://upper"),
            ("http_proxy", "http://lower"),
            ("No_Proxy", "localhost"),
            ("FTP_PROXY", ""),
            ("OTHER", "x"),
        ]);
        assert_eq!(
            args.proxy_env(),
            [
                KeyValue::new("HTTP_PROXY", "http://lower"),
                KeyValue::new("http_proxy", "http://lower"),
                KeyValue::new("NO_PROXY", "localhost"),
                KeyValue::new("no_proxy", "localhost"),
            ]
        );
        assert_eq!(args.globals().get("HTTP_PROXY"), None);
    }
}
