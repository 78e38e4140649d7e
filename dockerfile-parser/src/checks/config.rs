//! Which checks run and whether they fail the build: `# check=…` and
//! `BUILDKIT_DOCKERFILE_CHECK`, in BuildKit's syntax.
//!
//! The value is up to three `;`-separated options: `skip=RULE,…` or `skip=all`,
//! `experimental=RULE,…` or `experimental=all`, and `error=BOOL`. Skipping applies to
//! rules that are not experimental; an experimental rule runs only when named (or `all`).

use std::collections::BTreeSet;
use std::str::FromStr;

use super::Check;
use crate::directives::Directives;

/// The build argument that replaces the `check` directive, as in BuildKit.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// How a build evaluates its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// `skip=all`.
    pub skip_all: bool,
    /// The rules `skip=` names.
    pub skip: BTreeSet<String>,
    /// `experimental=all`.
    pub experimental_all: bool,
    /// The experimental rules `experimental=` turns on.
    pub experimental: BTreeSet<String>,
    /// `error=true`: a check that fires fails the build.
    pub error: bool,
}

/// A `check` value that is not in BuildKit's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckConfigError {
    /// An option without `=`, or with a name other than `skip`, `experimental`, `error`.
    #[error("invalid check option `{option}`: expected `skip=`, `experimental=` or `error=`")]
    Option {
        /// The option as written.
        option: String,
    },
    /// `error=` with something other than a boolean.
    #[error("invalid check option `{option}`: `error` takes `true` or `false`")]
    Error {
        /// The option as written.
        option: String,
    },
}

impl FromStr for CheckConfig {
    type Err = CheckConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut config = CheckConfig::default();
        let text = text.trim();
        if text.is_empty() {
            return Ok(config);
        }
        for option in text.splitn(3, ';') {
            let failed = || CheckConfigError::Option {
                option: option.to_owned(),
            };
            let (key, value) = option.split_once('=').ok_or_else(failed)?;
            let value = value.trim();
            match key.trim() {
                "skip" => read_list(value, &mut config.skip_all, &mut config.skip),
                "experimental" => read_list(
                    value,
                    &mut config.experimental_all,
                    &mut config.experimental,
                ),
                "error" => {
                    config.error = parse_bool(value).ok_or_else(|| CheckConfigError::Error {
                        option: option.to_owned(),
                    })?;
                }
                _ => return Err(failed()),
            }
        }
        Ok(config)
    }
}

/// `all`, or a comma-separated list of rule names.
fn read_list(value: &str, all: &mut bool, names: &mut BTreeSet<String>) {
    if value == "all" {
        *all = true;
    } else {
        names.extend(value.split(',').map(|name| name.trim().to_owned()));
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it, which BuildKit uses here.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl CheckConfig {
    /// The configuration of a build: the `BUILDKIT_DOCKERFILE_CHECK` build argument when
    /// given, else the Dockerfile's `check` directive, else every rule as a warning.
    ///
    /// # Errors
    /// A [`CheckConfigError`] for a value not in BuildKit's syntax.
    pub fn for_build(
        directives: &Directives,
        build_arg: Option<&str>,
    ) -> Result<CheckConfig, CheckConfigError> {
        build_arg
            .or(directives.check.as_deref())
            .map_or(Ok(CheckConfig::default()), str::parse)
    }

    /// Whether `check` is reported under this configuration.
    pub fn reports(&self, check: &Check) -> bool {
        let rule = check.rule;
        if rule.experimental {
            self.experimental_all || self.experimental.contains(rule.name)
        } else {
            !(self.skip_all || self.skip.contains(rule.name))
        }
    }

    /// The checks of `checks` this configuration reports.
    pub fn select(&self, checks: Vec<Check>) -> Vec<Check> {
        checks
            .into_iter()
            .filter(|check| self.reports(check))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_in_buildkit_syntax() {
        let config: CheckConfig = " skip = A, B ;error=true;experimental=all".parse().unwrap();
        assert!(config.error && config.experimental_all && !config.skip_all);
        assert_eq!(config.skip, ["A", "B"].map(String::from).into());
        let config: CheckConfig = "skip=all".parse().unwrap();
        assert!(config.skip_all);
        assert_eq!("".parse::<CheckConfig>().unwrap(), CheckConfig::default());
    }

    #[test]
    fn bad_options() {
        assert_eq!(
            "skip".parse::<CheckConfig>().unwrap_err().to_string(),
            "invalid check option `skip`: expected `skip=`, `experimental=` or `error=`"
        );
        assert_eq!(
            "error=yes".parse::<CheckConfig>().unwrap_err().to_string(),
            "invalid check option `error=yes`: `error` takes `true` or `false`"
        );
        assert!("colour=red".parse::<CheckConfig>().is_err());
    }

    #[test]
    fn the_build_argument_replaces_the_directive() {
        let directives = Directives {
            check: Some("skip=all".into()),
            ..Directives::default()
        };
        let config = CheckConfig::for_build(&directives, Some("error=true")).unwrap();
        assert!(config.error && !config.skip_all);
        assert!(CheckConfig::for_build(&directives, None).unwrap().skip_all);
    }
}
