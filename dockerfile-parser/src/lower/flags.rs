//! The `--name[=value]` flags of an instruction, read as BuildKit reads them.
//!
//! Each instruction declares its flags with a kind. A boolean flag is `--link`,
//! `--link=true` or `--link=false`; a string flag needs `=`; a repeatable flag
//! (`--mount`, `--exclude`) collects every value. A flag other than a repeatable one may
//! appear once. `--` ends the flags.

use std::collections::BTreeMap;

use mkimage_plan::Span;

use super::error::LowerError;
use super::instr::Instr;
use crate::suggest;

/// What values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    String,
    Repeated,
}

/// The flags an instruction was given.
#[derive(Debug, Default)]
pub(super) struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Reads `instr`'s flags against the ones it has.
    pub(super) fn parse(instr: &Instr, known: &[(&'static str, Kind)]) -> Result<Self, LowerError> {
        let span = instr.span;
        let invalid = |flag: &str, reason| LowerError::InvalidFlag {
            span,
            keyword: instr.name(),
            flag: flag.to_owned(),
            reason,
        };
        let mut flags = Flags::default();
        for raw in &instr.flags {
            if raw == "--" {
                break;
            }
            let Some(body) = raw.strip_prefix("--") else {
                return Err(invalid(raw, "a flag starts with `--`"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(name, kind)) = known.iter().find(|(known, _)| *known == name) else {
                return Err(unknown_flag(instr, span, name, known));
            };
            if kind != Kind::Repeated && flags.values.contains_key(name) {
                return Err(invalid(raw, "it is given more than once"));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_owned(),
                (Kind::Bool, Some("")) => return Err(invalid(raw, "it has `=` but no value")),
                (Kind::Bool, Some(value)) => match value.to_ascii_lowercase().as_str() {
                    "true" => "true".to_owned(),
                    "false" => "false".to_owned(),
                    _ => return Err(invalid(raw, "expected `true` or `false`")),
                },
                (_, None) => return Err(invalid(raw, "it needs a value: `--name=value`")),
                (_, Some(value)) => value.to_owned(),
            };
            flags.values.entry(name).or_default().push(value);
        }
        Ok(flags)
    }

    /// A string flag's value, if given.
    pub(super) fn string(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A boolean flag's value, if given.
    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|value| value == "true")
    }

    /// Every value of a repeatable flag.
    pub(super) fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }
}

fn unknown_flag(
    instr: &Instr,
    span: Span,
    name: &str,
    known: &[(&'static str, Kind)],
) -> LowerError {
    let names: Vec<&'static str> = known.iter().map(|(name, _)| *name).collect();
    LowerError::UnknownFlag {
        span,
        keyword: instr.name(),
        flag: name.to_owned(),
        suggestion: suggest::closest(name, &names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instr(flags: &[&str]) -> Instr {
        Instr {
            keyword: "copy".into(),
            span: Span { line: 3, col: 1 },
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            ..Instr::default()
        }
    }

    const COPY: &[(&str, Kind)] = &[
        ("from", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Repeated),
    ];

    #[test]
    fn flags_of_each_kind() {
        let flags = Flags::parse(
            &instr(&["--from=build", "--link", "--exclude=a", "--exclude=*.md"]),
            COPY,
        )
        .unwrap();
        assert_eq!(flags.string("from"), Some("build"));
        assert_eq!(flags.bool("link"), Some(true));
        assert_eq!(flags.all("exclude"), ["a", "*.md"]);
        assert_eq!(flags.string("chown"), None);
        let flags = Flags::parse(&instr(&["--link=FALSE", "--from="]), COPY).unwrap();
        assert_eq!(flags.bool("link"), Some(false));
        assert_eq!(flags.string("from"), Some(""));
        let flags = Flags::parse(&instr(&["--", "--link"]), COPY).unwrap();
        assert_eq!(flags.bool("link"), None);
    }

    #[test]
    fn bad_flags() {
        let error = |flags: &[&str]| Flags::parse(&instr(flags), COPY).unwrap_err().to_string();
        assert_eq!(
            error(&["--form=x"]),
            "3:1: unknown flag `--form` for `COPY`: did you mean `from`?"
        );
        assert_eq!(
            error(&["--chown=1"]),
            "3:1: unknown flag `--chown` for `COPY`"
        );
        assert_eq!(
            error(&["--from=a", "--from=b"]),
            "3:1: invalid flag `--from=b` for `COPY`: it is given more than once"
        );
        assert_eq!(
            error(&["--from"]),
            "3:1: invalid flag `--from` for `COPY`: it needs a value: `--name=value`"
        );
        assert_eq!(
            error(&["--link=yes"]),
            "3:1: invalid flag `--link=yes` for `COPY`: expected `true` or `false`"
        );
        assert_eq!(
            error(&["--link="]),
            "3:1: invalid flag `--link=` for `COPY`: it has `=` but no value"
        );
    }
}
