//! Shell patterns in `${NAME#…}`, `${NAME%…}` and `${NAME/…/…}`, matched as Docker does.
//!
//! Docker reads such a pattern as a glob without bracket expressions: `*` is any run of
//! characters, `?` any one character, and a backslash makes `*`, `?` or `\` literal (before
//! `}` or `/` it is dropped: it only kept the character from ending the `${…}`). Matching
//! is that of a backtracking regex engine, leftmost-first, where `*` is lazy for `#` and `%`
//! and greedy for `##`, `%%` and `/`; and like Go's `.` a wildcard never matches a newline.
//! `%` finds the shortest or longest *suffix* by reversing both the value and the pattern
//! and trimming a prefix, which is how Docker does it and gives Docker's answers where
//! they differ from a POSIX shell's.
//!
//! The patterns are turned into `regex` expressions rather than matched by hand because
//! that crate has exactly the leftmost-first, lazy/greedy semantics Docker relies on (Go's
//! `regexp`), which a hand-written matcher would have to reproduce.

use regex::Regex;

use super::error::ExpandError;

/// Where the pattern came from, for errors.
pub(super) struct Origin<'a> {
    /// The variable being modified.
    pub name: &'a str,
    /// Offset of the `$` in the expanded text.
    pub at: usize,
}

/// `${NAME#pattern}` (`greedy` for `##`): `value` without the shortest (longest) prefix
/// matching `pattern`.
pub(super) fn trim_prefix(
    value: &str,
    pattern: &str,
    greedy: bool,
    origin: &Origin<'_>,
) -> Result<String, ExpandError> {
    let re = compile(pattern, greedy, true, origin)?;
    Ok(match re.find(value) {
        Some(found) => value[found.end()..].to_owned(),
        None => value.to_owned(),
    })
}

/// `${NAME%pattern}` (`greedy` for `%%`): `value` without the shortest (longest) suffix
/// matching `pattern`, found by trimming the reversed pattern from the reversed value.
pub(super) fn trim_suffix(
    value: &str,
    pattern: &str,
    greedy: bool,
    origin: &Origin<'_>,
) -> Result<String, ExpandError> {
    let reversed = trim_prefix(
        &value.chars().rev().collect::<String>(),
        &reverse_pattern(pattern),
        greedy,
        origin,
    )?;
    Ok(reversed.chars().rev().collect())
}

/// `${NAME/pattern/replacement}` (`all` for `//`): the first (every) match of `pattern` in
/// `value` replaced. Stars are greedy.
///
/// A single replacement is literal. Replacing every match goes through Go's
/// `ReplaceAllString`, whose replacement is a template where `$0` is the match, `$$` a
/// dollar, and every other `$name` empty; empty matches right after a match are skipped.
/// A result growing past `limit` bytes is an [`ExpandError::TooLong`], found as it grows:
/// every match replaced by a long replacement multiplies the lengths.
pub(super) fn replace(
    value: &str,
    pattern: &str,
    replacement: &str,
    all: bool,
    origin: &Origin<'_>,
    limit: usize,
) -> Result<String, ExpandError> {
    let re = compile(pattern, true, false, origin)?;
    if !all {
        return Ok(match re.find(value) {
            Some(found) => {
                let mut out = String::with_capacity(value.len() + replacement.len());
                out.push_str(&value[..found.start()]);
                out.push_str(replacement);
                out.push_str(&value[found.end()..]);
                out
            }
            None => value.to_owned(),
        });
    }
    let mut out = String::with_capacity(value.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= value.len() {
        let Some(found) = re.find_at(value, search) else {
            break;
        };
        out.push_str(&value[last_end..found.start()]);
        if found.end() > last_end || found.start() == 0 {
            expand_template(&mut out, replacement, found.as_str());
        }
        if out.len() > limit {
            return Err(ExpandError::TooLong {
                limit,
                at: origin.at,
            });
        }
        last_end = found.end();
        let width = value[search..].chars().next().map_or(1, char::len_utf8);
        search = if search + width > found.end() {
            search + width
        } else {
            found.end()
        };
    }
    out.push_str(&value[last_end..]);
    Ok(out)
}

/// Appends `template` to `out` with Go's `Regexp.Expand` rules for a regex without groups.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_name(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// The `name` or `{name}` at the start of `text` and what follows it, as Go's template
/// reader takes it: letters, digits and `_`.
fn template_name(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let len = body
        .char_indices()
        .find(|&(_, ch)| !(ch == '_' || super::name::is_letter(ch) || super::name::is_digit(ch)))
        .map_or(body.len(), |(index, _)| index);
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        after.strip_prefix('}').map(|after| (name, after))
    } else {
        Some((name, after))
    }
}

/// Reverses a pattern but keeps each `\x` escape pair in order (`a\*c` → `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut index = 0;
    while index < chars.len() {
        let at = last - index;
        if chars[index] == '\\' && index != last {
            out[at - 1] = '\\';
            out[at] = chars[index + 1];
            index += 2;
        } else {
            out[at] = chars[index];
            index += 1;
        }
    }
    out.into_iter().collect()
}

/// The regular expression for a pattern.
fn compile(
    pattern: &str,
    greedy: bool,
    anchored: bool,
    origin: &Origin<'_>,
) -> Result<Regex, ExpandError> {
    let mut re = String::with_capacity(pattern.len() + 4);
    if anchored {
        re.push('^');
    }
    let mut chars = pattern.chars().peekable();
    let mut buf = [0; 4];
    while let Some(ch) = chars.next() {
        match ch {
            '*' => re.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => re.push('.'),
            '\\' => match chars.peek() {
                Some('}' | '/') => {}
                Some(&escaped @ ('*' | '?' | '\\')) => {
                    chars.next();
                    re.push('\\');
                    re.push(escaped);
                }
                other => {
                    return Err(ExpandError::PatternEscape {
                        pattern: pattern.to_owned(),
                        escaped: other.map(char::to_string).unwrap_or_default(),
                        at: origin.at,
                    });
                }
            },
            literal => re.push_str(&regex::escape(literal.encode_utf8(&mut buf))),
        }
    }
    Regex::new(&re).map_err(|source| ExpandError::PatternTooLarge {
        name: origin.name.to_owned(),
        at: origin.at,
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin { name: "V", at: 0 };

    fn prefix(value: &str, pattern: &str, greedy: bool) -> String {
        trim_prefix(value, pattern, greedy, &ORIGIN).unwrap()
    }

    fn suffix(value: &str, pattern: &str, greedy: bool) -> String {
        trim_suffix(value, pattern, greedy, &ORIGIN).unwrap()
    }

    fn replace_all(value: &str, pattern: &str, replacement: &str) -> String {
        replace(value, pattern, replacement, true, &ORIGIN, usize::MAX).unwrap()
    }

    #[test]
    fn prefix_is_shortest_or_longest() {
        assert_eq!(prefix("xxyy", "*x*y", false), "y");
        assert_eq!(prefix("xxyy", "*", false), "xxyy");
        assert_eq!(prefix("xxyy", "*x", true), "yy");
        assert_eq!(prefix("xxyy", "", true), "xxyy");
        assert_eq!(prefix("???y", "?\\?", false), "?y");
        assert_eq!(prefix("/usr/local/bin", "*/", false), "usr/local/bin");
        assert_eq!(prefix("/usr/local/bin", "*/", true), "bin");
        assert_eq!(prefix("abc", "x", true), "abc");
    }

    #[test]
    fn suffix_is_found_on_the_reversed_value() {
        assert_eq!(suffix("xx**", "\\**", true), "xx");
        assert_eq!(suffix("a***yy*", "\\**\\*", true), "a");
        assert_eq!(suffix("file.tar.gz", ".*", false), "file.tar");
        assert_eq!(suffix("file.tar.gz", ".*", true), "file");
        assert_eq!(suffix("xxyy", "", false), "xxyy");
    }

    #[test]
    fn regex_characters_are_literal() {
        assert_eq!(
            prefix("()[]{}^$.*?|\\x", "()[]{\\}^$.\\*\\?|\\\\", false),
            "x"
        );
        assert_eq!(prefix("a+b", "a+", false), "b");
    }

    #[test]
    fn wildcards_do_not_cross_newlines() {
        assert_eq!(prefix("a\nb", "*b", true), "a\nb");
        assert_eq!(prefix("a\nb", "a?", true), "a\nb");
    }

    #[test]
    fn wildcards_match_characters_not_bytes() {
        assert_eq!(prefix("안녕하세요", "?", false), "녕하세요");
        assert_eq!(suffix("안녕하세요", "??", false), "안녕하");
    }

    #[test]
    fn bad_escapes_are_errors() {
        for pattern in ["\\", "\\x", "\\\\\\"] {
            let error = trim_prefix("v", pattern, false, &ORIGIN).unwrap_err();
            assert!(
                matches!(error, ExpandError::PatternEscape { .. }),
                "{pattern}"
            );
        }
        assert_eq!(
            trim_prefix("v", "a\\b", false, &ORIGIN)
                .unwrap_err()
                .to_string(),
            "invalid escape `\\b` in pattern `a\\b`: only `\\*`, `\\?`, `\\\\`, `\\}` and `\\/` are escapes"
        );
    }

    #[test]
    fn reversing_keeps_escape_pairs() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern(""), "");
    }

    #[test]
    fn replace_first_is_literal() {
        let first = |value, pattern, replacement| {
            replace(value, pattern, replacement, false, &ORIGIN, usize::MAX).unwrap()
        };
        assert_eq!(first("/foo*/*/*.txt", "\\*/", "."), "/foo.*/*.txt");
        assert_eq!(first("/a/foo/b/c.txt", "/?/", "/"), "/foo/b/c.txt");
        assert_eq!(first("xxyy", "", "ww"), "wwxxyy");
        assert_eq!(first("ab", "a", "$0$$"), "$0$$b");
        assert_eq!(first("ab", "z", "q"), "ab");
    }

    #[test]
    fn replace_all_uses_go_semantics() {
        assert_eq!(replace_all("/foo*/*/*.txt", "\\*/", "."), "/foo..*.txt");
        assert_eq!(replace_all("/tmp/tmp/bar.txt", "/tmp", ""), "/bar.txt");
        assert_eq!(replace_all("/a/foo/b/c.txt", "/?/", "/"), "/foo/c.txt");
        // Empty matches: one per position, none right after a match.
        assert_eq!(replace_all("xy", "", "-"), "-x-y-");
        assert_eq!(replace_all("안녕", "", "-"), "-안-녕-");
        assert_eq!(replace_all("ab", "*", "-"), "-");
        // The replacement is a template.
        assert_eq!(replace_all("abab", "b", "[$0]"), "a[b]a[b]");
        assert_eq!(replace_all("abab", "b", "${0}$$"), "ab$ab$");
        assert_eq!(replace_all("abab", "b", "$1$x${y}"), "aa");
        assert_eq!(replace_all("ab", "b", "$.${0"), "a$.${0");
        assert_eq!(replace_all("ab", "b", "$"), "a$");
    }
}
