//! `CopyIgnoredFile`: a `COPY` or `ADD` source from the build context that the
//! context's `.dockerignore` excludes.

use mkimage_plan::slash_path::clean;

use super::{Check, flag, rules::COPY_IGNORED_FILE};
use crate::ast::{Dockerfile, Keyword};

/// The `COPY`/`ADD` sources of `dockerfile` read from the build context (no `--from`,
/// no URL or git source, no heredoc, no variable) that `excluded` says the context's
/// `.dockerignore` excludes. `excluded` takes the source cleaned, relative to the
/// context's root (`.` for the root itself).
///
/// As in BuildKit, a caller whose `.dockerignore` has `!` patterns should not call
/// this: whether a directory with a re-included file below it is copied cannot be
/// told from its path.
pub fn copy_ignored(dockerfile: &Dockerfile, excluded: &dyn Fn(&str) -> bool) -> Vec<Check> {
    let mut found = Vec::new();
    for instruction in &dockerfile.instructions {
        let name = match instruction.kind {
            Keyword::Copy => "Copy",
            Keyword::Add => "Add",
            _ => continue,
        };
        if flag(instruction, "from").is_some() {
            continue;
        }
        let args = instruction.arg_strings();
        let Some((_, sources)) = args.split_last() else {
            continue;
        };
        for source in sources {
            let literal = !source.contains('$') && !source.starts_with("<<");
            let remote = source.contains("://") || source.starts_with("git@");
            if !literal || remote {
                continue;
            }
            let cleaned = clean(source);
            let cleaned = match cleaned.trim_start_matches('/') {
                "" => ".",
                relative => relative,
            };
            if excluded(cleaned) {
                let message = format!(
                    "Attempting to {name} file {cleaned:?} that is excluded by .dockerignore"
                );
                found.push(Check::new(&COPY_IGNORED_FILE, message, instruction.span));
            }
        }
    }
    found
}
