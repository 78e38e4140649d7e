//! The reader behind [`Expander`](super::Expander): one pass over a word that removes
//! quotes and escapes, expands `$` and, when asked, splits words.
//!
//! It follows BuildKit's shell lexer rule for rule:
//! - outside quotes, the escape character makes the next character literal (and not a word
//!   separator); at the very end it is dropped;
//! - in single quotes everything is literal;
//! - in double quotes `$` expands, and the escape character escapes only `"`, `$` and
//!   itself; before anything else it stays;
//! - inside `${NAME#…}`, `${NAME%…}` and `${NAME/…/…}` escapes are kept, so that the
//!   pattern still sees `\*`;
//! - the word of a modifier is expanded before the variable is looked at, so its errors
//!   surface whichever branch is taken;
//! - `$` not followed by a name or `{` is literal;
//! - when splitting, unquoted expansion results split on whitespace, quoted text does not,
//!   and `<<` keeps the blanks after it in its word (so a heredoc marker stays whole).
//!
//! One deliberate difference: BuildKit shares one buffer between a word being split and the
//! word of a nested `${NAME:-word}`, so `a${X:-b}c` splits into `bc`. Here it is `abc`, as
//! any shell says and as the single-word result already is.

use std::collections::BTreeSet;

use super::error::ExpandError;
use super::pattern::{self, Origin};
use super::{Env, Expander, MAX_DEPTH, name};

/// The names a word looked up, split by whether they were set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// Names that had a value (possibly empty).
    pub set: BTreeSet<String>,
    /// Names that had no value.
    pub unset: BTreeSet<String>,
}

pub(super) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    escape: char,
    quotes: bool,
    /// The longest text a word may expand to.
    limit: usize,
    env: &'a dyn Env,
    /// How many `${…}` enclose the current position.
    depth: usize,
    pub(super) vars: Vars,
}

/// Words being split: Docker's rules for when a word starts and ends.
#[derive(Default)]
pub(super) struct Words {
    done: Vec<String>,
    current: String,
    in_word: bool,
}

impl Words {
    /// An unquoted character: whitespace ends the current word.
    fn push_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.done.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.push_raw_char(ch);
        }
    }

    /// A character that never separates words (escaped).
    fn push_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    /// The unquoted result of an expansion: split like unquoted text.
    fn push_str(&mut self, text: &str) {
        text.chars().for_each(|ch| self.push_char(ch));
    }

    /// Quoted text: never split. An empty quoted string adds nothing, as in Docker.
    fn push_raw_str(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_word = true;
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str, expander: &Expander, env: &'a dyn Env) -> Self {
        Self {
            src,
            pos: 0,
            escape: expander.escape,
            quotes: expander.quotes,
            limit: expander.limit,
            env,
            depth: 0,
            vars: Vars::default(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    /// The whole text, and its words when `words` is given.
    pub(super) fn all(&mut self, words: Option<&mut Words>) -> Result<String, ExpandError> {
        Ok(self
            .until(None, false, words)?
            .expect("without a stop character the text ends at its end"))
    }

    /// Reads up to `stop` (consumed) or to the end when `stop` is `None`. `Ok(None)` means
    /// the end came before `stop`.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        mut words: Option<&mut Words>,
    ) -> Result<Option<String>, ExpandError> {
        let mut out = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.bump();
                return Ok(Some(out));
            }
            match ch {
                '$' => {
                    let at = self.pos;
                    let value = self.dollar()?;
                    self.check_len(out.len() + value.len(), at)?;
                    if let Some(words) = words.as_deref_mut() {
                        words.push_str(&value);
                    }
                    out.push_str(&value);
                }
                '<' => {
                    let marker = self.heredoc_marker();
                    if let Some(words) = words.as_deref_mut() {
                        words.push_raw_str(&marker);
                    }
                    out.push_str(&marker);
                }
                '\'' | '"' if self.quotes => {
                    let quoted = if ch == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted(raw_escapes, out.len())?
                    };
                    if let Some(words) = words.as_deref_mut() {
                        words.push_raw_str(&quoted);
                    }
                    out.push_str(&quoted);
                }
                _ => {
                    self.bump();
                    if ch != self.escape {
                        if let Some(words) = words.as_deref_mut() {
                            words.push_char(ch);
                        }
                        out.push(ch);
                        continue;
                    }
                    if raw_escapes {
                        if let Some(words) = words.as_deref_mut() {
                            words.push_raw_char(ch);
                        }
                        out.push(ch);
                    }
                    let Some(escaped) = self.bump() else { break };
                    if let Some(words) = words.as_deref_mut() {
                        words.push_raw_char(escaped);
                    }
                    out.push(escaped);
                }
            }
        }
        Ok(stop.is_none().then_some(out))
    }

    /// Fails when `len` bytes, from the expansion at `at`, are more than the limit. Only
    /// expansions can make the text longer than it is written, so only they are checked.
    fn check_len(&self, len: usize, at: usize) -> Result<(), ExpandError> {
        if len > self.limit {
            return Err(ExpandError::TooLong {
                limit: self.limit,
                at,
            });
        }
        Ok(())
    }

    /// `'…'`: everything literal up to the next `'`.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let at = self.pos;
        self.bump();
        let rest = &self.src[self.pos..];
        let end = rest
            .find('\'')
            .ok_or(ExpandError::UnterminatedQuote { quote: '\'', at })?;
        let quoted = rest[..end].to_owned();
        self.pos += end + 1;
        Ok(quoted)
    }

    /// `"…"`: `$` expands; the escape character escapes `"`, `$` and itself only.
    /// `before` is the length of the text made before the quote, which its expansions
    /// add to.
    fn double_quoted(&mut self, raw_escapes: bool, before: usize) -> Result<String, ExpandError> {
        let at = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedQuote { quote: '"', at }),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('$') => {
                    let at = self.pos;
                    let value = self.dollar()?;
                    self.check_len(before + out.len() + value.len(), at)?;
                    out.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.bump().expect("peeked a character");
                    if ch == self.escape {
                        if raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                ch = next;
                                self.bump();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<`, or `<<` and the blanks after it.
    fn heredoc_marker(&mut self) -> String {
        let start = self.pos;
        self.bump();
        if self.peek() == Some('<') {
            self.bump();
            while let Some(' ' | '\t' | '\r') = self.peek() {
                self.bump();
            }
        }
        self.src[start..self.pos].to_owned()
    }

    /// The name after `$` or `${`; empty when there is none.
    fn name(&mut self) -> String {
        let len = name::name_len(&self.src[self.pos..]);
        let name = self.src[self.pos..self.pos + len].to_owned();
        self.pos += len;
        name
    }

    /// Looks a name up and records that it was referenced.
    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(value) => {
                self.vars.set.insert(name.to_owned());
                Some(value.to_owned())
            }
            None => {
                self.vars.unset.insert(name.to_owned());
                None
            }
        }
    }

    /// `$NAME` or `${…}`, starting at the `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        let at = self.pos;
        self.bump();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.bump();
        match self.peek() {
            None => return Err(ExpandError::Unclosed { at }),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution { at }),
            Some(_) => {}
        }
        // The word of a modifier is read by recursion: bound it before the stack does.
        if self.depth == MAX_DEPTH {
            return Err(ExpandError::TooDeep {
                limit: MAX_DEPTH,
                at,
            });
        }
        self.depth += 1;
        let value = self.braced(at);
        self.depth -= 1;
        value
    }

    /// `${…}` after the `{`; `at` is the offset of the `$`.
    fn braced(&mut self, at: usize) -> Result<String, ExpandError> {
        let name = self.name();
        let unsupported = |modifier: String, name: String| ExpandError::UnsupportedModifier {
            modifier,
            name,
            at,
        };
        match self.bump() {
            None => Err(ExpandError::Unclosed { at }),
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => match self.bump() {
                None => Err(ExpandError::Unclosed { at }),
                Some(op @ ('-' | '+' | '?')) => self.modifier(name, op, true, at),
                Some('=') => Err(ExpandError::Assignment {
                    modifier: ":=".to_owned(),
                    name,
                    at,
                }),
                Some(other) => Err(unsupported(format!(":{other}"), name)),
            },
            Some(op @ ('-' | '+' | '?' | '#' | '%')) => self.modifier(name, op, false, at),
            Some('/') => self.replace(name, at),
            Some('=') => Err(ExpandError::Assignment {
                modifier: "=".to_owned(),
                name,
                at,
            }),
            Some(other) => Err(unsupported(other.to_string(), name)),
        }
    }

    /// `${NAME<op>word}` and `${NAME:<op>word}` (`colon`), after the operator.
    fn modifier(
        &mut self,
        name: String,
        op: char,
        colon: bool,
        at: usize,
    ) -> Result<String, ExpandError> {
        let raw_escapes = op == '#' || op == '%';
        let word = self
            .until(Some('}'), raw_escapes, None)?
            .ok_or(ExpandError::Unclosed { at })?;
        let value = self.lookup(&name);
        // With a colon, an empty value counts as unset.
        let has_value = value.as_deref().is_some_and(|v| !(colon && v.is_empty()));
        match op {
            '-' => Ok(if has_value { value } else { None }.unwrap_or(word)),
            '+' => Ok(if has_value { word } else { String::new() }),
            '?' => match value {
                Some(value) if has_value => Ok(value),
                _ if !word.is_empty() => Err(ExpandError::Required {
                    name,
                    message: word,
                    at,
                }),
                None => Err(ExpandError::Unset { name, at }),
                Some(_) => Err(ExpandError::Empty { name, at }),
            },
            _ => {
                let value = value.unwrap_or_default();
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let origin = Origin { name: &name, at };
                if op == '#' {
                    pattern::trim_prefix(&value, pattern, greedy, &origin)
                } else {
                    pattern::trim_suffix(&value, pattern, greedy, &origin)
                }
            }
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`, after the first `/`.
    fn replace(&mut self, name: String, at: usize) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.bump();
        }
        let pattern =
            self.until(Some('/'), true, None)?
                .ok_or_else(|| ExpandError::MissingSlash {
                    name: name.clone(),
                    at,
                })?;
        let replacement = self
            .until(Some('}'), true, None)?
            .ok_or(ExpandError::Unclosed { at })?;
        let value = self.lookup(&name).unwrap_or_default();
        let origin = Origin { name: &name, at };
        pattern::replace(&value, &pattern, &replacement, all, &origin, self.limit)
    }
}
