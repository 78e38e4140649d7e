//! What the build arguments mean to the build itself, beyond the Dockerfile's `ARG`s.

use std::collections::BTreeMap;

use mkimage_dockerfile::{Arguments, Dockerfile, Keyword};

use super::FrontendError;

/// The build arguments used without an `ARG`: `SOURCE_DATE_EPOCH` and the platform
/// arguments.
const IMPLICIT: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// The proxy settings, used without an `ARG` in any case.
const PROXIES: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// The build's `SOURCE_DATE_EPOCH`: `explicit` when given, else the build argument.
///
/// # Errors
///
/// [`FrontendError::SourceDateEpoch`] when the build argument is not a number.
pub(super) fn source_date_epoch(
    explicit: Option<i64>,
    build_args: &BTreeMap<String, String>,
) -> Result<Option<i64>, FrontendError> {
    let value = match (explicit, build_args.get("SOURCE_DATE_EPOCH")) {
        (Some(epoch), _) => return Ok(Some(epoch)),
        (None, Some(value)) if !value.is_empty() => value,
        (None, _) => return Ok(None),
    };
    value
        .parse()
        .map(Some)
        .map_err(|source| FrontendError::SourceDateEpoch {
            value: value.clone(),
            source,
        })
}

/// Whether a git context keeps its `.git`: the build argument
/// `BUILDKIT_CONTEXT_KEEP_GIT_DIR` is true, as Go's `strconv.ParseBool` (which BuildKit
/// uses) reads it.
pub(super) fn keeps_git_dir(build_args: &BTreeMap<String, String>) -> bool {
    build_args
        .get("BUILDKIT_CONTEXT_KEEP_GIT_DIR")
        .is_some_and(|value| matches!(value.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// The build arguments that no `ARG` of `dockerfile` or of the bases' `ONBUILD`
/// `triggers` declares, as `docker build` reports them: the proxy settings,
/// `SOURCE_DATE_EPOCH`, the platform arguments and `BUILDKIT_*` are used without one.
pub(super) fn unconsumed<'a>(
    dockerfile: &Dockerfile,
    triggers: impl Iterator<Item = &'a String>,
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    // A trigger that does not parse fails the lowering, which reports it.
    let triggers: Vec<Dockerfile> = triggers
        .filter_map(|trigger| mkimage_dockerfile::parse(trigger).ok())
        .collect();
    let declared: Vec<&str> = std::iter::once(dockerfile)
        .chain(&triggers)
        .flat_map(|file| &file.instructions)
        .filter(|instr| instr.kind == Keyword::Arg)
        .filter_map(|instr| match &instr.args {
            Arguments::Words(words) => Some(words),
            _ => None,
        })
        .flatten()
        .map(|word| word.split_once('=').map_or(word.as_str(), |(key, _)| key))
        .collect();
    build_args
        .keys()
        .filter(|key| {
            !declared.contains(&key.as_str())
                && !IMPLICIT.contains(&key.as_str())
                && !PROXIES.iter().any(|proxy| key.eq_ignore_ascii_case(proxy))
                && !key.starts_with("BUILDKIT_")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_epoch_wins_over_the_build_argument() -> Result<(), FrontendError> {
        let args = BTreeMap::from([("SOURCE_DATE_EPOCH".to_owned(), "7".to_owned())]);
        assert_eq!(source_date_epoch(Some(3), &args)?, Some(3));
        assert_eq!(source_date_epoch(None, &args)?, Some(7));
        assert_eq!(source_date_epoch(None, &BTreeMap::new())?, None);
        let bad = BTreeMap::from([("SOURCE_DATE_EPOCH".to_owned(), "soon".to_owned())]);
        assert_eq!(
            source_date_epoch(None, &bad).err().map(|e| e.to_string()),
            Some("SOURCE_DATE_EPOCH `soon` is not a number of seconds".to_owned())
        );
        Ok(())
    }

    #[test]
    fn unused_arguments_skip_declared_implicit_and_proxy_ones()
    -> Result<(), Box<dyn std::error::Error>> {
        let dockerfile = mkimage_dockerfile::parse("ARG A\nFROM scratch\nARG B=1\n")?;
        let trigger = "ARG C".to_owned();
        let args: BTreeMap<String, String> =
            ["A", "B", "C", "D", "http_proxy", "BUILDKIT_X", "TARGETOS"]
                .into_iter()
                .map(|key| (key.to_owned(), String::new()))
                .collect();
        assert_eq!(
            unconsumed(&dockerfile, [&trigger].into_iter(), &args),
            ["D"]
        );
        Ok(())
    }
}
