//! `COPY` and `ADD`.

use mkimage_plan::{AddOptions, Copy, CopySource, InlineFile, Op};

use super::error::LowerError;
use super::flags::{Flags, Kind};
use super::heredoc;
use super::instr::Instr;
use super::source;
use super::stage::{StageLowerer, arguments, check_path, expand_error};
use crate::expand::Expander;

const COPY_FLAGS: &[(&str, Kind)] = &[
    ("from", Kind::String),
    ("chown", Kind::String),
    ("chmod", Kind::String),
    ("link", Kind::Bool),
    ("exclude", Kind::Repeated),
    ("parents", Kind::Bool),
];

const ADD_FLAGS: &[(&str, Kind)] = &[
    ("chown", Kind::String),
    ("chmod", Kind::String),
    ("link", Kind::Bool),
    ("keep-git-dir", Kind::Bool),
    ("checksum", Kind::String),
    ("unpack", Kind::Bool),
    ("exclude", Kind::Repeated),
];

impl StageLowerer<'_> {
    /// `COPY`, or `ADD` when `add`.
    pub(super) fn copy(&mut self, instr: &Instr, add: bool) -> Result<(), LowerError> {
        let Some((dest, sources)) = instr.args.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(arguments(
                instr,
                "requires at least two arguments: one or more sources and a destination",
            ));
        };
        let flags = Flags::parse(instr, if add { ADD_FLAGS } else { COPY_FLAGS })?;
        if heredoc::marker_name(dest).is_some() {
            return Err(LowerError::Heredoc {
                span: instr.span,
                keyword: instr.name(),
                what: "the destination",
            });
        }
        let span = instr.span;
        let copy_error = |reason| LowerError::Copy { span, reason };

        let chown = match flags.string("chown").filter(|v| !v.is_empty()) {
            Some(chown) => Some(self.word(chown, span)?).filter(|v| !v.is_empty()),
            None => None,
        };
        let chmod = self.chmod(instr, flags.string("chmod"))?;
        let checksum = match flags.string("checksum").filter(|v| !v.is_empty()) {
            Some(checksum) => Some(self.word(checksum, span)?).filter(|v| !v.is_empty()),
            None => None,
        };

        // Docker copies the paths first, then the heredocs.
        let mut paths = Vec::new();
        let mut inline = Vec::new();
        for raw in sources {
            match heredoc::marker_name(raw) {
                Some(name) => {
                    check_path(span, "heredoc name", &name)?;
                    inline.push(self.inline(instr, &name)?);
                }
                None => {
                    let path = self.word(raw, span)?;
                    check_path(span, "source", &path)?;
                    let classified = source::classify(&path);
                    match (&classified, add) {
                        (CopySource::Git(_), false) => {
                            return Err(copy_error(
                                "`COPY` cannot copy from a git repository: use `ADD`",
                            ));
                        }
                        (CopySource::Url(_), false) => {
                            return Err(copy_error("`COPY` cannot copy from a URL: use `ADD`"));
                        }
                        _ => paths.push(classified),
                    }
                }
            }
        }
        if let Some(checksum) = &checksum {
            match paths.as_slice() {
                [CopySource::Url(_)] if !source::is_digest(checksum) => {
                    return Err(copy_error(
                        "`--checksum` of a URL must be a digest like `sha256:…` with its hex digits",
                    ));
                }
                [CopySource::Url(_) | CopySource::Git(_)] => {}
                [_] => {
                    return Err(copy_error(
                        "`--checksum` requires an HTTP(S) URL or a git repository as the source",
                    ));
                }
                _ => {
                    return Err(copy_error(
                        "`--checksum` cannot be given for more than one source",
                    ));
                }
            }
        }
        let dest = self.word(dest, span)?;
        check_path(span, "destination", &dest)?;
        let from = match flags.string("from") {
            Some(from) if !from.is_empty() => self.copy_from(instr, from)?,
            _ => Default::default(),
        };
        let exclude = flags.all("exclude").to_vec();
        for pattern in &exclude {
            check_path(span, "`--exclude` pattern", pattern)?;
        }

        let mut text = instr.name();
        let mut flag = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                text.push_str(&format!(" --{name}={value}"));
            }
        };
        flag("from", flags.string("from").filter(|v| !v.is_empty()));
        flag("chown", chown.as_deref());
        flag("chmod", chmod.as_deref());
        flag("checksum", checksum.as_deref());
        for pattern in &exclude {
            flag("exclude", Some(pattern));
        }
        for (name, on) in [
            ("link", flags.bool("link")),
            ("parents", flags.bool("parents")),
            ("keep-git-dir", flags.bool("keep-git-dir")),
            ("unpack", flags.bool("unpack")),
        ] {
            match on {
                Some(true) => text.push_str(&format!(" --{name}")),
                Some(false) => text.push_str(&format!(" --{name}=false")),
                None => {}
            }
        }
        for source in paths.iter().chain(&inline) {
            text.push(' ');
            match source {
                CopySource::Path(s) | CopySource::Url(s) | CopySource::Git(s) => text.push_str(s),
                CopySource::Inline(file) => text.push_str(&format!("<<{}", file.name)),
            }
        }
        text.push(' ');
        text.push_str(&dest);

        let copy = Copy {
            from,
            sources: paths.into_iter().chain(inline).collect(),
            dest,
            chown,
            chmod,
            link: flags.bool("link").unwrap_or(false),
            parents: flags.bool("parents").unwrap_or(false),
            exclude,
            add: add.then(|| AddOptions {
                checksum,
                keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
                unpack: flags.bool("unpack"),
            }),
        };
        self.push(instr, Op::Copy(copy), text)
    }

    /// The heredoc named `name` as a file, its body expanded unless its delimiter was
    /// quoted. Docker expands it with quotes left alone and `\` as the escape character,
    /// whatever the Dockerfile's.
    fn inline(&mut self, instr: &Instr, name: &str) -> Result<CopySource, LowerError> {
        let heredoc = instr
            .heredocs
            .iter()
            .rev()
            .find(|heredoc| heredoc.name == name)
            .ok_or_else(|| arguments(instr, "has a heredoc marker without a body"))?;
        let mut content = heredoc.body();
        if heredoc.expand {
            let expanded = self
                .ctx
                .budget
                .word_with(Expander::default().keep_quotes(), &content, &self.scope)
                .map_err(|source| expand_error(instr.span, &content, source))?;
            self.note_unset(&expanded.vars, instr.span);
            content = expanded.value;
        }
        Ok(CopySource::Inline(InlineFile {
            name: heredoc.name.clone(),
            content,
        }))
    }
}
