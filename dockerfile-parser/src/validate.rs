//! What each instruction accepts: its flags and the shape of its arguments, checked as
//! BuildKit checks them when it reads an instruction, before any variable is expanded.
//!
//! Checks that need expanded values (a platform, a port, a duration, a mount's options)
//! belong to lowering.

use crate::ast::{Arguments, Flag, Instruction, Keyword};
use crate::error::ParseError;
use crate::grammar::{LineParser, Split, heredoc_marker};
use crate::suggest;

/// What values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name`, `--name=true` or `--name=false` (any case).
    Bool,
    /// `--name=value`, once.
    String,
    /// `--name=value`, any number of times.
    Repeated,
}

/// A flag an instruction takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagSpec {
    /// The name, without `--`.
    pub name: &'static str,
    /// What values it takes.
    pub kind: FlagKind,
}

const fn flag(name: &'static str, kind: FlagKind) -> FlagSpec {
    FlagSpec { name, kind }
}

const ADD: &[FlagSpec] = &[
    flag("chown", FlagKind::String),
    flag("chmod", FlagKind::String),
    flag("link", FlagKind::Bool),
    flag("keep-git-dir", FlagKind::Bool),
    flag("checksum", FlagKind::String),
    flag("unpack", FlagKind::Bool),
    flag("exclude", FlagKind::Repeated),
];
const COPY: &[FlagSpec] = &[
    flag("chown", FlagKind::String),
    flag("from", FlagKind::String),
    flag("chmod", FlagKind::String),
    flag("link", FlagKind::Bool),
    flag("exclude", FlagKind::Repeated),
    flag("parents", FlagKind::Bool),
];
const FROM: &[FlagSpec] = &[flag("platform", FlagKind::String)];
const RUN: &[FlagSpec] = &[
    flag("mount", FlagKind::Repeated),
    flag("network", FlagKind::String),
    flag("security", FlagKind::String),
];
const HEALTHCHECK: &[FlagSpec] = &[
    flag("interval", FlagKind::String),
    flag("timeout", FlagKind::String),
    flag("start-period", FlagKind::String),
    flag("start-interval", FlagKind::String),
    flag("retries", FlagKind::String),
];

impl Keyword {
    /// The flags the instruction takes; `None` when Docker does not check its flags at
    /// all (`ARG`, `STOPSIGNAL` and unknown instructions accept and ignore any, and so
    /// does `HEALTHCHECK NONE`).
    pub fn flags(self) -> Option<&'static [FlagSpec]> {
        match self {
            Keyword::Add => Some(ADD),
            Keyword::Copy => Some(COPY),
            Keyword::From => Some(FROM),
            Keyword::Run => Some(RUN),
            Keyword::Healthcheck => Some(HEALTHCHECK),
            Keyword::Arg | Keyword::Stopsignal | Keyword::Unknown => None,
            _ => Some(&[]),
        }
    }
}

/// Checks one instruction's flags and arguments.
pub(crate) fn instruction(
    parser: &LineParser<'_>,
    split: &Split,
    instruction: &Instruction,
) -> Result<(), ParseError> {
    let keyword = instruction.kind.as_str();
    let args_at = parser.position(split.args.0);
    let arguments = |expected| ParseError::Arguments {
        at: args_at,
        keyword,
        expected,
    };
    let words = instruction.arg_strings();
    match (&instruction.kind, &instruction.args) {
        (Keyword::Unknown, _) => return Ok(()),
        (Keyword::Add | Keyword::Copy, _) if words.len() < 2 => {
            return Err(arguments(if instruction.kind == Keyword::Add {
                "at least one source and a destination after `ADD`"
            } else {
                "at least one source and a destination after `COPY`"
            }));
        }
        (Keyword::From, _) => {
            let as_ok = words.len() == 3 && words[1].eq_ignore_ascii_case("as");
            if words.len() != 1 && !as_ok {
                return Err(arguments("an image and optionally `AS name` after `FROM`"));
            }
        }
        (Keyword::Maintainer, Arguments::None) => {
            return Err(arguments("a name after `MAINTAINER`"));
        }
        (Keyword::User, Arguments::None) => return Err(arguments("a user after `USER`")),
        (Keyword::Workdir, Arguments::None) => return Err(arguments("a path after `WORKDIR`")),
        (Keyword::Stopsignal, Arguments::None) => {
            return Err(arguments("a signal after `STOPSIGNAL`"));
        }
        (Keyword::Expose, Arguments::None) => {
            return Err(arguments("at least one port after `EXPOSE`"));
        }
        (Keyword::Volume, Arguments::None) => {
            return Err(arguments("at least one path after `VOLUME`"));
        }
        (Keyword::Volume, Arguments::Exec(paths)) if paths.is_empty() => {
            return Err(arguments("at least one path after `VOLUME`"));
        }
        (Keyword::Arg, Arguments::None | Arguments::Words(_)) if words.is_empty() => {
            return Err(arguments("at least one name after `ARG`"));
        }
        (Keyword::Onbuild, Arguments::None) => {
            return Err(arguments("an instruction after `ONBUILD`"));
        }
        (Keyword::Healthcheck, Arguments::None) => {
            return Err(arguments(
                "`NONE`, or `CMD` and a command, after `HEALTHCHECK`",
            ));
        }
        (Keyword::Healthcheck, Arguments::Healthcheck { kind, command })
            if kind.eq_ignore_ascii_case("NONE") =>
        {
            // Docker reads no flags for `HEALTHCHECK NONE`.
            if **command != Arguments::None {
                return Err(ParseError::Arguments {
                    at: args_at,
                    keyword,
                    expected: "nothing after `HEALTHCHECK NONE`",
                });
            }
            return Ok(());
        }
        _ => {}
    }
    flags(instruction.kind, &instruction.flags)?;
    match (&instruction.kind, &instruction.args) {
        (Keyword::Env | Keyword::Label, Arguments::None) => {
            Err(arguments(if instruction.kind == Keyword::Env {
                "`key=value` pairs after `ENV`"
            } else {
                "`key=value` pairs after `LABEL`"
            }))
        }
        (Keyword::Env | Keyword::Label, Arguments::Pairs(pairs)) => {
            match pairs.iter().position(|pair| pair.key.is_empty()) {
                Some(_) => Err(ParseError::BlankName {
                    at: args_at,
                    keyword,
                }),
                None => Ok(()),
            }
        }
        (Keyword::Arg, _) => {
            for (at, word) in parser.pair_words(split.args.0, &split.args.1)? {
                if word.starts_with('=') {
                    return Err(ParseError::BlankName {
                        at: parser.position(split.args.0 + at),
                        keyword,
                    });
                }
            }
            Ok(())
        }
        (Keyword::Add | Keyword::Copy, _) => {
            let destination = words.last().expect("two arguments or more were checked");
            if heredoc_marker(destination).is_some() {
                return Err(ParseError::HeredocDestination {
                    at: args_at,
                    keyword,
                });
            }
            Ok(())
        }
        (Keyword::Volume, _) if words.iter().any(|word| word.trim().is_empty()) => {
            Err(arguments("paths that are not empty after `VOLUME`"))
        }
        (Keyword::Shell, Arguments::Exec(strings)) if strings.is_empty() => {
            Err(arguments("a shell and its arguments after `SHELL`"))
        }
        (Keyword::Shell, Arguments::Exec(_)) => Ok(()),
        (Keyword::Shell, _) => Err(ParseError::ShellNotJson { at: args_at }),
        (Keyword::Healthcheck, Arguments::Healthcheck { kind, command }) => {
            if !kind.eq_ignore_ascii_case("CMD") {
                return Err(ParseError::HealthcheckType {
                    at: args_at,
                    kind: kind.clone(),
                });
            }
            let empty = match &**command {
                Arguments::Exec(strings) => strings.is_empty(),
                Arguments::None => true,
                _ => false,
            };
            if empty {
                return Err(arguments("a command after `HEALTHCHECK CMD`"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks flags against the instruction's [`Keyword::flags`], as BuildKit's flag parser.
pub(crate) fn flags(kind: Keyword, flags: &[Flag]) -> Result<(), ParseError> {
    let Some(specs) = kind.flags() else {
        return Ok(());
    };
    let keyword = kind.as_str();
    let mut seen: Vec<&str> = Vec::new();
    for flag in flags {
        let at = flag.span.start();
        let invalid = |expected| ParseError::InvalidFlag {
            at,
            keyword,
            flag: flag.to_string(),
            expected,
        };
        let Some(spec) = specs.iter().find(|spec| spec.name == flag.name) else {
            let names: Vec<&'static str> = specs.iter().map(|spec| spec.name).collect();
            return Err(ParseError::UnknownFlag {
                at,
                keyword,
                flag: flag.name.clone(),
                suggestion: suggest::closest(&flag.name, &names),
            });
        };
        if spec.kind != FlagKind::Repeated && seen.contains(&spec.name) {
            return Err(invalid("it only once"));
        }
        seen.push(spec.name);
        match (spec.kind, flag.value.as_deref()) {
            (FlagKind::Bool, None) => {}
            (FlagKind::Bool, Some(value))
                if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") => {}
            (FlagKind::Bool, Some(_)) => return Err(invalid("`true` or `false`")),
            (_, None) => return Err(invalid("a value: `--name=value`")),
            (_, Some(_)) => {}
        }
    }
    Ok(())
}
