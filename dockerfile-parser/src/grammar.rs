//! The pest grammar (`dockerfile.pest`) and the code that turns its parse of one logical
//! line into an [`Instruction`].
//!
//! A logical line is split as Docker's parser splits it: the keyword, the leading
//! `--flag` words, then the rest, which is read by the rule for the keyword (a JSON
//! array, whitespace-delimited words, quote-aware words, `key=value` pairs or plain text).

use pest::Parser as _;
use pest::iterators::{Pair as PestPair, Pairs};

use crate::ast::{Arguments, Flag, Instruction, Keyword, Pair};
use crate::error::ParseError;
use crate::lines::Logical;
use crate::span::{Position, Span};

#[derive(pest_derive::Parser)]
#[grammar = "dockerfile.pest"]
struct DockerfileParser;

/// How deep a JSON array may nest before its parse is not attempted. A nested array is
/// never a string, so the answer is known without it: this bounds the parser's recursion.
const MAX_JSON_DEPTH: usize = 64;

/// Parses `rule` over `input`, for a rule that accepts any text. It can still fail when
/// pest's guard finds too little stack left (a caller on a small thread stack); that is
/// reported at `at` rather than treated as impossible.
fn parse_total(rule: Rule, input: &str, at: Position) -> Result<Pairs<'_, Rule>, ParseError> {
    DockerfileParser::parse(rule, input).map_err(|_| ParseError::StackExhausted { at })
}

/// Reads the instructions of one logical line.
pub(crate) struct LineParser<'a> {
    pub(crate) logical: &'a Logical,
    pub(crate) escape: char,
}

/// The keyword, flags and argument text of an instruction, before the arguments are read.
pub(crate) struct Split {
    pub(crate) keyword: String,
    pub(crate) kind: Keyword,
    pub(crate) at: usize,
    pub(crate) flags: Vec<Flag>,
    /// The argument text, trimmed, and its byte offset in the logical line.
    pub(crate) args: (usize, String),
}

impl LineParser<'_> {
    /// Where byte `offset` of the logical line is in the file.
    pub(crate) fn position(&self, offset: usize) -> Position {
        self.logical.position(offset)
    }

    fn span(&self, offset: usize) -> Span {
        let start = self.position(offset);
        Span {
            line: start.line,
            col: start.col,
            end_line: self.logical.end_line,
        }
    }

    /// Parses the instruction that starts at byte `start` of the logical line, and checks
    /// it as BuildKit checks an instruction before building: the instruction, and what
    /// that check finds wrong with its flags or arguments (which BuildKit's parser
    /// accepts, and its instruction reader rejects).
    pub(crate) fn instruction(
        &self,
        start: usize,
    ) -> Result<(Instruction, Option<ParseError>), ParseError> {
        let (split, instruction) = self.read(start)?;
        let invalid = crate::validate::instruction(self, &split, &instruction).err();
        Ok((instruction, invalid))
    }

    /// Parses an `ONBUILD` trigger. BuildKit checks only its keyword when it builds the
    /// Dockerfile; the rest of the trigger is checked when an image built `FROM` this one
    /// runs it. So only what Docker's line parser itself rejects (a JSON array of
    /// non-strings, `ENV` without a value) fails here.
    fn trigger(&self, start: usize) -> Result<Instruction, ParseError> {
        self.read(start).map(|(_, instruction)| instruction)
    }

    /// Reads the instruction that starts at byte `start` of the logical line.
    fn read(&self, start: usize) -> Result<(Split, Instruction), ParseError> {
        let split = self.split(start)?;
        let args = self.arguments(&split)?;
        let text = &self.logical.text[start..];
        let instruction = Instruction {
            keyword: split.keyword.clone(),
            kind: split.kind,
            span: self.span(split.at),
            flags: split.flags.clone(),
            args,
            heredocs: Vec::new(),
            original: if start == 0 {
                text.to_owned()
            } else {
                text.trim().to_owned()
            },
        };
        Ok((split, instruction))
    }

    /// Splits the keyword and flags from the arguments.
    fn split(&self, start: usize) -> Result<Split, ParseError> {
        let text = &self.logical.text[start..];
        let trimmed = text.trim_start();
        let base = start + text.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        let input = format!("{}{trimmed}", self.escape);
        // Offsets in `input` are one escape character ahead of the logical line's.
        let shift = self.escape.len_utf8();
        let offset = |at: usize| base + at - shift;
        let mut split = Split {
            keyword: String::new(),
            kind: Keyword::Unknown,
            at: base,
            flags: Vec::new(),
            args: (base + trimmed.len(), String::new()),
        };
        let instruction = parse_total(Rule::instruction, &input, self.position(base))?
            .next()
            .expect("the instruction rule yields one pair");
        let mut rest_at = None;
        for part in instruction.into_inner() {
            match part.as_rule() {
                Rule::keyword => {
                    split.keyword = part.as_str().to_owned();
                    split.kind = Keyword::from_word(part.as_str());
                }
                Rule::flags => {
                    for flag in part.into_inner() {
                        let word = flag_word(flag.clone());
                        if word == "--" {
                            rest_at = Some(flag.as_span().end());
                            break;
                        }
                        let body = &word[2..];
                        let (name, value) = match body.split_once('=') {
                            Some((name, value)) => (name, Some(value.to_owned())),
                            None => (body, None),
                        };
                        let start = self.position(offset(flag.as_span().start()));
                        let end = self.position(offset(flag.as_span().end()));
                        split.flags.push(Flag {
                            name: name.to_owned(),
                            value,
                            span: Span {
                                line: start.line,
                                col: start.col,
                                end_line: end.line,
                            },
                        });
                    }
                }
                Rule::rest => {
                    let at = rest_at.unwrap_or(part.as_span().start());
                    let rest = &input[at..];
                    let args = rest.trim();
                    split.args = (
                        offset(at + rest.len() - rest.trim_start().len()),
                        args.to_owned(),
                    );
                }
                _ => {}
            }
        }
        Ok(split)
    }

    /// Reads the argument text by the rule for the keyword.
    fn arguments(&self, split: &Split) -> Result<Arguments, ParseError> {
        let (at, text) = (split.args.0, split.args.1.as_str());
        if text.is_empty() {
            return Ok(Arguments::None);
        }
        Ok(match split.kind {
            Keyword::Add | Keyword::Copy | Keyword::Volume => match self.json(at, text)? {
                Some(strings) => Arguments::Exec(strings),
                None => Arguments::Words(blank_words(text, self.position(at))?),
            },
            Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell => {
                self.maybe_json(at, text)?
            }
            Keyword::From | Keyword::Expose => {
                Arguments::Words(blank_words(text, self.position(at))?)
            }
            Keyword::Maintainer | Keyword::User | Keyword::Workdir | Keyword::Stopsignal => {
                Arguments::Text(text.to_owned())
            }
            Keyword::Arg => Arguments::Words(
                self.pair_words(at, text)?
                    .into_iter()
                    .map(|(_, word)| word)
                    .collect(),
            ),
            Keyword::Env | Keyword::Label => self.pairs(split, at, text)?,
            Keyword::Healthcheck => {
                // Docker splits the type word off byte by byte at ASCII white space: a
                // type followed by U+00A0 keeps part of it and is never `CMD` or `NONE`.
                let kind_len = text
                    .find(|c: char| c.is_ascii_whitespace() || c == '\u{0B}')
                    .unwrap_or(text.len());
                let command = text[kind_len..]
                    .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{0B}');
                let command_at = at + text.len() - command.len();
                Arguments::Healthcheck {
                    kind: text[..kind_len].to_owned(),
                    command: Box::new(if command.is_empty() {
                        Arguments::None
                    } else {
                        self.maybe_json(command_at, command)?
                    }),
                }
            }
            Keyword::Onbuild => {
                // The trigger is checked before it is parsed, so that `ONBUILD ONBUILD …`
                // cannot nest: a trigger is never itself an `ONBUILD`.
                crate::validate::flags(Keyword::Onbuild, &split.flags)?;
                let trigger = self.split(at)?;
                if matches!(
                    trigger.kind,
                    Keyword::Onbuild | Keyword::From | Keyword::Maintainer
                ) {
                    return Err(ParseError::OnbuildTrigger {
                        at: self.position(trigger.at),
                        keyword: trigger.keyword,
                    });
                }
                Arguments::Trigger(Box::new(self.trigger(at)?))
            }
            Keyword::Unknown => Arguments::None,
        })
    }

    /// Exec form if `text` is a JSON array, else the text as one string.
    fn maybe_json(&self, at: usize, text: &str) -> Result<Arguments, ParseError> {
        Ok(match self.json(at, text)? {
            Some(strings) => Arguments::Exec(strings),
            None => Arguments::Text(text.to_owned()),
        })
    }

    /// The strings of a JSON array; `None` when `text` is not JSON (shell form), an error
    /// when it is a JSON array of something other than strings.
    fn json(&self, at: usize, text: &str) -> Result<Option<Vec<String>>, ParseError> {
        if !text.starts_with('[') {
            return Ok(None);
        }
        if let Some(nested) = too_deep(text) {
            return Err(ParseError::JsonNotStrings {
                at: self.position(at + nested),
            });
        }
        let Ok(mut pairs) = DockerfileParser::parse(Rule::json_args, text) else {
            return Ok(None);
        };
        let array = pairs
            .next()
            .and_then(|args| args.into_inner().next())
            .expect("json_args holds one array");
        // Go's decoder fails on a number too large for a float64, and Docker then reads
        // the text as shell form, whatever else the array holds.
        if array.clone().into_inner().flatten().any(|value| {
            value.as_rule() == Rule::json_number
                && value.as_str().parse::<f64>().is_ok_and(f64::is_infinite)
        }) {
            return Ok(None);
        }
        let mut strings = Vec::new();
        for value in array.into_inner() {
            match value.as_rule() {
                Rule::json_string => strings.push(json_string(value)),
                _ => {
                    return Err(ParseError::JsonNotStrings {
                        at: self.position(at + value.as_span().start()),
                    });
                }
            }
        }
        Ok(Some(strings))
    }

    /// Quote-aware words with their byte offsets in the logical line, quotes and escapes
    /// kept; an escape character at the very end is dropped.
    pub(crate) fn pair_words(
        &self,
        at: usize,
        text: &str,
    ) -> Result<Vec<(usize, String)>, ParseError> {
        let input = format!("{}{text}", self.escape);
        let shift = self.escape.len_utf8();
        let words = parse_total(Rule::pair_words, &input, self.position(at))?
            .next()
            .expect("the pair_words rule yields one pair");
        Ok(words
            .into_inner()
            .filter(|word| word.as_rule() == Rule::pair_word)
            .filter_map(|word| {
                let mut text = word.as_str();
                if word
                    .clone()
                    .into_inner()
                    .any(|part| part.as_rule() == Rule::trailing_escape)
                {
                    text = &text[..text.len() - shift];
                }
                (!text.is_empty()).then(|| (word.as_span().start() - shift, text.to_owned()))
            })
            .collect())
    }

    /// `ENV` and `LABEL`: `key=value` words, or the legacy `key value`.
    fn pairs(&self, split: &Split, at: usize, text: &str) -> Result<Arguments, ParseError> {
        let keyword = split.kind.as_str();
        let words = self.pair_words(at, text)?;
        let Some((_, first)) = words.first() else {
            return Ok(Arguments::None);
        };
        if !first.contains('=') {
            let key_len = text.find(is_blank).unwrap_or(text.len());
            let value = text[key_len..].trim_start_matches(is_blank);
            let key = &text[..key_len];
            if value.is_empty() {
                return Err(ParseError::MissingValue {
                    at: self.position(at + key_len),
                    keyword,
                    key: key.to_owned(),
                });
            }
            return Ok(Arguments::Pairs(vec![Pair {
                key: key.to_owned(),
                value: value.to_owned(),
                legacy: true,
            }]));
        }
        let mut pairs = Vec::with_capacity(words.len());
        for (word_at, word) in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(ParseError::MissingEquals {
                    at: self.position(at + word_at),
                    word,
                });
            };
            pairs.push(Pair {
                key: key.to_owned(),
                value: value.to_owned(),
                legacy: false,
            });
        }
        Ok(Arguments::Pairs(pairs))
    }
}

/// Go's `[\t\v\f\r ]`.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Whitespace-delimited words.
pub(crate) fn blank_words(text: &str, at: Position) -> Result<Vec<String>, ParseError> {
    Ok(parse_total(Rule::blank_words, text, at)?
        .flatten()
        .filter(|pair| pair.as_rule() == Rule::blank_word)
        .map(|pair| pair.as_str().to_owned())
        .collect())
}

/// A flag word with its quotes removed and escapes applied.
fn flag_word(flag: PestPair<'_, Rule>) -> String {
    let mut word = String::new();
    for part in flag.into_inner().flatten() {
        match part.as_rule() {
            Rule::flag_plain | Rule::flag_dq_plain | Rule::flag_sq_plain | Rule::flag_char => {
                word.push_str(part.as_str());
            }
            _ => {}
        }
    }
    word
}

/// Decodes a JSON string literal as Go's encoding/json does: a lone surrogate becomes
/// U+FFFD rather than an error (serde_json would refuse it, so this is written out).
fn json_string(value: PestPair<'_, Rule>) -> String {
    let inner = value.into_inner().next().map_or("", |inner| inner.as_str());
    let mut out = String::with_capacity(inner.len());
    let mut units: Vec<u16> = Vec::new();
    let mut chars = inner.chars();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or('\u{FFFD}')));
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut units, &mut out);
            out.push(c);
            continue;
        }
        let escaped = chars.next().unwrap_or('\\');
        if escaped == 'u' {
            let hex: String = chars.by_ref().take(4).collect();
            units.push(u16::from_str_radix(&hex, 16).unwrap_or(0xFFFD));
            continue;
        }
        flush(&mut units, &mut out);
        out.push(match escaped {
            'b' => '\u{08}',
            'f' => '\u{0C}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            other => other,
        });
    }
    flush(&mut units, &mut out);
    out
}

/// The byte offset of the first `[` or `{` nested deeper than [`MAX_JSON_DEPTH`],
/// ignoring brackets inside strings.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Some(at);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A heredoc marker found among a line's shell words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    /// Byte offset of the word in the line.
    pub(crate) at: usize,
    pub(crate) name: String,
    pub(crate) expand: bool,
    pub(crate) chomp: bool,
    pub(crate) fd: u64,
}

/// The heredoc markers of a line, as BuildKit finds them: the line is split into shell
/// words (backslash escapes, quotes kept; a line that does not split has none) and each
/// word of the form `[fd]<<[-]NAME` is one.
///
/// # Errors
/// The byte offset of a `${` nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH), which
/// the grammar would read by recursing that deep.
pub(crate) fn heredoc_markers(line: &str) -> Result<Vec<Marker>, usize> {
    if let Some(at) = crate::nesting::params_too_deep(line) {
        return Err(at);
    }
    let Ok(words) = DockerfileParser::parse(Rule::shell_words, line) else {
        return Ok(Vec::new());
    };
    Ok(words
        .flatten()
        .filter(|pair| pair.as_rule() == Rule::shell_word)
        .flat_map(lexed_words)
        .filter_map(|(at, word)| {
            let mut marker = heredoc_marker(word)?;
            marker.at = at;
            Some(marker)
        })
        .collect())
}

/// The words BuildKit's lexer makes of one `shell_word`, with their byte offsets.
///
/// The lexer shares one word buffer with the nested reading of an expansion that has a
/// modifier (`${A:-x}`, `${A/x/y}`, also inside double quotes), and that reading clears
/// it: the word loses what came before such a part. The expansion itself then reads back
/// as written and is split at white space like an expanded variable.
fn lexed_words<'i>(word: PestPair<'i, Rule>) -> Vec<(usize, &'i str)> {
    let text = word.as_str();
    let base = word.as_span().start();
    let mut words = Vec::new();
    let mut start = 0;
    for part in word.into_inner() {
        let resets = part
            .clone()
            .into_inner()
            .flatten()
            .any(|pair| matches!(pair.as_rule(), Rule::param_mod | Rule::param_repl));
        if !resets {
            continue;
        }
        start = part.as_span().start() - base;
        if part.as_rule() == Rule::shell_param {
            let end = part.as_span().end() - base;
            let mut pieces = Vec::new();
            let mut at = start;
            for chunk in text[start..end].split_inclusive(char::is_whitespace) {
                let piece = chunk.trim_end_matches(char::is_whitespace);
                if !piece.is_empty() {
                    pieces.push((at, piece));
                }
                at += chunk.len();
            }
            if let Some(((last, _), complete)) = pieces.split_last() {
                words.extend(complete.iter().map(|&(at, piece)| (base + at, piece)));
                start = *last;
            }
        }
    }
    words.push((base + start, &text[start..]));
    words
}

/// Reads one word as a heredoc marker (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
pub(crate) fn heredoc_marker(word: &str) -> Option<Marker> {
    let marker = DockerfileParser::parse(Rule::heredoc_marker, word)
        .ok()?
        .next()?;
    let mut fd = 0;
    let mut chomp = false;
    let mut raw_name = "";
    for part in marker.into_inner() {
        match part.as_rule() {
            // Like Go's ParseUint with its error ignored: too large a number gives 0.
            Rule::heredoc_fd => fd = part.as_str().parse().unwrap_or(0),
            Rule::heredoc_chomp => chomp = true,
            Rule::heredoc_word => raw_name = part.as_str(),
            _ => {}
        }
    }
    let name = DockerfileParser::parse(Rule::heredoc_name, raw_name)
        .ok()?
        .next()?;
    let mut value = String::new();
    let mut quoted = false;
    for part in name.into_inner() {
        match part.as_rule() {
            Rule::name_plain => value.push_str(part.as_str()),
            // Unquoted, an expansion is split at white space: the name is then two words.
            Rule::name_param if part.as_str().contains(char::is_whitespace) => return None,
            Rule::name_param => value.push_str(part.as_str()),
            Rule::name_escaped => value.push_str(part.into_inner().as_str()),
            Rule::name_squote => {
                quoted = true;
                value.push_str(part.into_inner().as_str());
            }
            Rule::name_dquote => {
                quoted = true;
                for piece in part.into_inner() {
                    let text = piece.clone().into_inner().as_str();
                    match piece.as_rule() {
                        // Inside double quotes a backslash escapes only `"`, `$` and `\`.
                        Rule::name_dq_escaped if matches!(text, "\"" | "$" | "\\") => {
                            value.push_str(text);
                        }
                        Rule::name_dq_escaped => {
                            value.push('\\');
                            value.push_str(text);
                        }
                        _ => value.push_str(piece.as_str()),
                    }
                }
            }
            _ => {}
        }
    }
    if value.is_empty() {
        return None;
    }
    Some(Marker {
        at: 0,
        name: value,
        expand: !quoted,
        chomp,
        fd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Option<(String, bool, bool, u64)> {
        heredoc_marker(word).map(|m| (m.name, m.expand, m.chomp, m.fd))
    }

    #[test]
    fn heredoc_marker_words() {
        assert_eq!(marker("<<EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("<<-EOF"), Some(("EOF".into(), true, true, 0)));
        assert_eq!(marker("3<<'EOF'"), Some(("EOF".into(), false, false, 3)));
        assert_eq!(
            marker("<<\"E\\\"F\""),
            Some(("E\"F".into(), false, false, 0))
        );
        assert_eq!(marker("<<E\"O\"F"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("<<\\EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("<< EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("<<"), None);
        assert_eq!(marker("<<''"), None);
        assert_eq!(marker("a<<EOF"), None);
        assert_eq!(marker("<<<EOF"), None);
        assert_eq!(marker("<<EOF<x"), None);
        assert_eq!(marker("<<EOF${"), None);
        assert_eq!(marker("<<\"${A:-\""), None);
        assert_eq!(marker("<<${A:-a b}"), None);
        assert_eq!(marker("<<$${}"), Some(("$${}".into(), true, false, 0)));
        assert_eq!(
            marker("<<\"${A:-a b}\""),
            Some(("${A:-a b}".into(), false, false, 0))
        );
    }

    #[test]
    fn heredoc_markers_of_a_line() {
        let names = |line: &str| -> Vec<String> {
            heredoc_markers(line)
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect()
        };
        assert_eq!(names("RUN <<A 3<<-B cat"), ["A", "B"]);
        assert_eq!(names("RUN cat << EOF"), ["EOF"]);
        assert_eq!(names("RUN cat <<- EOF"), Vec::<String>::new());
        assert_eq!(names("RUN echo '<<EOF'"), Vec::<String>::new());
        assert_eq!(names("RUN echo 'open <<EOF"), Vec::<String>::new());
        assert_eq!(names("RUN cat<<EOF"), Vec::<String>::new());
        // An invalid expansion anywhere leaves the line without heredocs.
        assert_eq!(names("RUN <<EOF echo ${"), Vec::<String>::new());
        assert_eq!(names("RUN <<EOF echo \"${#A[@]}\""), Vec::<String>::new());
        assert_eq!(names("RUN <<EOF echo ${A:#x}"), Vec::<String>::new());
        assert_eq!(names("RUN <<EOF echo ${A/x"), Vec::<String>::new());
        assert_eq!(
            names("RUN <<EOF echo '${' ${A:x} ${A//x/y} $ ${1} ${@}"),
            ["EOF"]
        );
        // An expansion with a modifier drops what its word held before it, and splits.
        assert_eq!(names("RUN <<EOF${A:-x} 3<<B"), ["B"]);
        assert_eq!(names("RUN x\"${A:-y}\"<<C"), Vec::<String>::new());
        assert_eq!(names("RUN ${A:- <<D x}"), ["D"]);
        // Unclosed quotes inside nested expansions fail at once rather than being read
        // again as text, which took time exponential in the depth.
        let nested = format!("RUN <<EOF {}", "\"${A:-'".repeat(40));
        assert_eq!(names(&nested), Vec::<String>::new());
    }

    #[test]
    fn json_strings_decode_like_go() {
        let decode = |text: &str| {
            let pair = DockerfileParser::parse(Rule::json_string, text)
                .unwrap()
                .next()
                .unwrap();
            json_string(pair)
        };
        assert_eq!(decode(r#""a\"b\\c\/d\n""#), "a\"b\\c/d\n");
        assert_eq!(decode(r#""\u00e9\ud83d\ude00""#), "é😀");
        assert_eq!(decode(r#""\ud800x""#), "\u{FFFD}x");
    }

    #[test]
    fn blank_words_split_on_ascii_blanks_only() {
        let at = Position::default();
        assert_eq!(blank_words("a \t b\u{a0}c", at).unwrap(), ["a", "b\u{a0}c"]);
        assert_eq!(blank_words("", at).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn nesting_depth() {
        assert_eq!(too_deep("[[\"[[[[\"]]"), None);
        let deep = "[".repeat(MAX_JSON_DEPTH + 1);
        assert_eq!(too_deep(&deep), Some(MAX_JSON_DEPTH));
    }
}
