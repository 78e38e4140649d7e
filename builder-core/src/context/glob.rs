//! Go's `filepath.Match` for one path component: the wildcards of `COPY`/`ADD` sources.
//!
//! Written by hand because no crate implements Go's exact grammar: `globset` and `glob`
//! negate classes with `!` (Go uses `^`), give `**` a meaning Go does not have and differ
//! on malformed patterns, which Go rejects as a whole.
//!
//! The grammar: `*` matches any run of characters other than `/`, `?` one such character,
//! `[` `^`? ranges `]` a character class where a range is a character or `lo-hi`, and `\c`
//! the character `c` itself, inside a class too.

use std::fmt;
use std::iter::Peekable;
use std::str::Chars;

/// One compiled `filepath.Match` pattern.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    AnyChar,
    /// `*`
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A pattern that `filepath.Match` would reject with `ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

impl Glob {
    /// Compiles `pattern`.
    pub(crate) fn new(pattern: &str) -> Result<Glob, BadPattern> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' => Token::Literal(chars.next().ok_or(BadPattern)?),
                '[' => {
                    let (negated, ranges) = class(&mut chars)?;
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(Glob {
            text: pattern.to_owned(),
            tokens,
        })
    }

    /// Whether `name` matches the whole pattern.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        matches_at(&self.tokens, &name)
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

/// Whether `s` holds a wildcard (`*`, `?`, `[` or an escape), so that it must be matched
/// rather than looked up.
pub(crate) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// A character class after its `[`, through its `]`: whether it is negated (`^`) and its
/// ranges, a single character being a range of one.
pub(crate) fn class(
    chars: &mut Peekable<Chars<'_>>,
) -> Result<(bool, Vec<(char, char)>), BadPattern> {
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    loop {
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            return Ok((negated, ranges));
        }
        let lo = class_char(chars)?;
        let hi = if chars.next_if_eq(&'-').is_some() {
            class_char(chars)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

/// One character of a class: a plain one, or an escaped one; `-` and `]` must be escaped.
fn class_char(chars: &mut Peekable<Chars<'_>>) -> Result<char, BadPattern> {
    match chars.next().ok_or(BadPattern)? {
        '\\' => chars.next().ok_or(BadPattern),
        '-' | ']' => Err(BadPattern),
        c => Ok(c),
    }
}

/// Matches with backtracking to the last `*` only, which suffices because a `*` never
/// crosses anything another `*` could not.
fn matches_at(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    // Where to resume after the last `*`: its token index and the name index it swallowed to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t < tokens.len() {
            let token = &tokens[t];
            if *token == Token::AnyRun {
                star = Some((t, n));
                t += 1;
                continue;
            }
            if n < name.len() && one(token, name[n]) {
                t += 1;
                n += 1;
                continue;
            }
        } else if n == name.len() {
            return true;
        }
        match star {
            // `*` takes one more character, never a `/`.
            Some((st, sn)) if sn < name.len() && name[sn] != '/' => {
                star = Some((st, sn + 1));
                t = st + 1;
                n = sn + 1;
            }
            _ => return false,
        }
    }
}

fn one(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::AnyRun => unreachable!("`*` is handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).expect("valid pattern").matches(name)
    }

    // Cases from Go's `filepath.Match` documentation and test table.
    #[test]
    fn matches_like_go_filepath_match() {
        let table = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
            ("[z-a]", "m", false),
        ];
        for (pattern, name, want) in table {
            assert_eq!(m(pattern, name), want, "{pattern:?} ~ {name:?}");
        }
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in [
            "[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "\\",
        ] {
            assert_eq!(Glob::new(bad), Err(BadPattern), "{bad:?}");
        }
    }

    #[test]
    fn detects_wildcards() {
        assert!(has_wildcard("*.rs"));
        assert!(has_wildcard("a\\b"));
        assert!(!has_wildcard("src/main.rs"));
    }
}
