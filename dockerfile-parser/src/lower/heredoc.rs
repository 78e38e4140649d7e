//! Heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) among the words of an instruction.

use crate::expand::Expander;

/// The delimiter, quotes removed, when `word`, all of it, is a heredoc marker: optional
/// digits, `<<`, an optional `-`, optional blanks, then exactly one word with no `<`.
pub(super) fn marker_name(word: &str) -> Option<String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let env = std::collections::BTreeMap::new();
    let words = Expander::default().words(rest, &env).ok()?.value;
    match <[String; 1]>::try_from(words) {
        Ok([name]) => Some(name),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let cases = [
            ("<<EOF", "EOF"),
            ("<<-EOF", "EOF"),
            ("<<\"EOF\"", "EOF"),
            ("<<'E O F'", "E O F"),
            ("3<<EOF", "EOF"),
            ("<< EOF", "EOF"),
            ("<<-\tX", "X"),
        ];
        for (word, name) in cases {
            assert_eq!(marker_name(word).as_deref(), Some(name), "{word}");
        }
        for word in [
            "<<",
            "<<EOF bash",
            "cat <<EOF",
            "<<EOF<",
            "<EOF",
            "x<<EOF",
            "<<'EOF",
        ] {
            assert_eq!(marker_name(word), None, "{word}");
        }
    }
}
