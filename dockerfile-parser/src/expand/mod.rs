//! Variable substitution with Docker's shell-word rules.
//!
//! An [`Expander`] takes a word as written in a Dockerfile (`"$HOME"/bin`, `${VERSION:-1}`)
//! and an [`Env`] of the variables in effect, and gives the final text with quotes and
//! escapes removed ([`Expander::word`]) or split into words on unquoted whitespace
//! ([`Expander::words`]). Every result also tells which variables were referenced
//! ([`Vars`]), which `ARG` handling needs.
//!
//! Supported forms: `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`,
//! `${NAME+word}`, `${NAME:?message}`, `${NAME?message}`, `${NAME#pattern}`,
//! `${NAME##pattern}`, `${NAME%pattern}`, `${NAME%%pattern}`,
//! `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`, where a word may hold
//! further expansions and a pattern is a glob (`*`, `?`). With a colon, an empty variable
//! counts as unset. Everything else in `${…}` is an [`ExpandError`], and so is nesting
//! deeper than [`MAX_DEPTH`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use mkimage_dockerfile::Expander;
//!
//! let env = BTreeMap::from([("V".to_owned(), "1.2.3".to_owned())]);
//! let expander = Expander::default();
//! assert_eq!(expander.word("app-${V%%.*}'$x'", &env)?.value, "app-1$x");
//! assert_eq!(expander.words("a \"b c\" ${V/./ }", &env)?.value, ["a", "b c", "1", "2.3"]);
//! # Ok::<(), mkimage_dockerfile::ExpandError>(())
//! ```

mod error;
mod lexer;
mod name;
mod pattern;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

pub use error::ExpandError;

/// How deeply `${…}` may nest (`${A:-${B:-…}}`). The reader recurses once per level, so
/// this bounds its stack use; Dockerfiles nest two or three levels, and the JSON reader's
/// bound (`grammar::MAX_JSON_DEPTH`) is the same.
pub const MAX_DEPTH: usize = 64;
pub use lexer::Vars;
use lexer::{Lexer, Words};
pub(crate) use name::name_len;

/// The variables a word is expanded against. Names are case-sensitive.
pub trait Env {
    /// The value of `name`, or `None` when it is not set (which is not the same as empty).
    fn get(&self, name: &str) -> Option<&str>;
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

/// Expands words with Docker's rules, for one escape character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expander {
    escape: char,
    quotes: bool,
    limit: usize,
}

/// The result of an expansion and the variables it referenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded<T> {
    /// The expanded text ([`Expander::word`]) or words ([`Expander::words`]).
    pub value: T,
    /// The variables the text referenced, including those inside a branch not taken.
    pub vars: Vars,
}

impl Default for Expander {
    /// The default escape character `\`, quotes removed.
    fn default() -> Self {
        Self::new('\\')
    }
}

impl Expander {
    /// An expander for a Dockerfile whose escape character is `escape` (`\`, or `` ` ``
    /// after `# escape=`` ` ``).
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            quotes: true,
            limit: usize::MAX,
        }
    }

    /// The same expander, but an expansion longer than `limit` bytes is an
    /// [`ExpandError::TooLong`], found before it is built. Without a limit, variables make
    /// a word as long as they like (`${A}${A}…` of a long `A`): set one for untrusted text.
    #[must_use]
    pub fn limit(self, limit: usize) -> Self {
        Self { limit, ..self }
    }

    /// The same expander, but quotes are ordinary characters: only `$` and the escape
    /// character are special. Docker expands the body of a `COPY <<EOF` heredoc this way.
    pub fn keep_quotes(self) -> Self {
        Self {
            quotes: false,
            ..self
        }
    }

    /// Expands `text` as one word: quotes and escapes removed, no splitting.
    ///
    /// # Errors
    /// A malformed or unsupported `${…}`, an unterminated quote, a failed `${NAME?…}`,
    /// nesting deeper than [`MAX_DEPTH`], or a result longer than the [limit](Self::limit).
    pub fn word(&self, text: &str, env: &dyn Env) -> Result<Expanded<String>, ExpandError> {
        let mut lexer = Lexer::new(text, self, env);
        let value = lexer.all(None)?;
        Ok(Expanded {
            value,
            vars: lexer.vars,
        })
    }

    /// Expands `text` and splits it into words on unquoted whitespace, whitespace from
    /// unquoted expansions included. Quoted text is never split; an empty quoted string on
    /// its own makes no word, as in Docker.
    ///
    /// # Errors
    /// As [`Expander::word`].
    pub fn words(&self, text: &str, env: &dyn Env) -> Result<Expanded<Vec<String>>, ExpandError> {
        let mut lexer = Lexer::new(text, self, env);
        let mut words = Words::default();
        lexer.all(Some(&mut words))?;
        Ok(Expanded {
            value: words.finish(),
            vars: lexer.vars,
        })
    }
}

#[cfg(test)]
mod tests;
