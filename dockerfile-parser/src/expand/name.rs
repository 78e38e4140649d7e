//! What makes a variable name after `$`, as Docker reads it.
//!
//! A name is a run of letters, digits and `_` not starting with a digit; or a run of
//! digits (a positional parameter, never set in a Dockerfile); or one of the shell's
//! special parameters `@ * # ? - $ !`. Letters and digits are Go's `unicode.IsLetter`
//! (general category L) and `unicode.IsDigit` (category Nd). Rust's `char::is_alphabetic`
//! and `char::is_numeric` use wider properties, so the categories are asked of `regex`,
//! which carries the Unicode tables.

use std::sync::LazyLock;

use regex::Regex;

/// Whether `ch` is a letter (general category L).
pub(super) fn is_letter(ch: char) -> bool {
    static LETTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{L}$").expect("a fixed, valid expression"));
    if ch.is_ascii() {
        ch.is_ascii_alphabetic()
    } else {
        LETTER.is_match(ch.encode_utf8(&mut [0; 4]))
    }
}

/// Whether `ch` is a decimal digit (general category Nd).
pub(super) fn is_digit(ch: char) -> bool {
    static DIGIT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{Nd}$").expect("a fixed, valid expression"));
    if ch.is_ascii() {
        ch.is_ascii_digit()
    } else {
        DIGIT.is_match(ch.encode_utf8(&mut [0; 4]))
    }
}

/// The length in bytes of the name at the start of `text`; 0 when there is none.
pub(crate) fn name_len(text: &str) -> usize {
    let mut chars = text.char_indices();
    match chars.next() {
        None => 0,
        Some((_, first)) if is_digit(first) => text
            .char_indices()
            .find(|&(_, ch)| !is_digit(ch))
            .map_or(text.len(), |(index, _)| index),
        Some((_, '@' | '*' | '#' | '?' | '-' | '$' | '!')) => 1,
        Some((_, first)) if first == '_' || is_letter(first) => chars
            .find(|&(_, ch)| !(ch == '_' || is_letter(ch) || is_digit(ch)))
            .map_or(text.len(), |(index, _)| index),
        Some(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_and_underscores() {
        assert_eq!(name_len("PWD.x"), 3);
        assert_eq!(name_len("_a1 b"), 3);
        assert_eq!(name_len("한국어!"), "한국어".len());
        assert_eq!(name_len(".x"), 0);
        assert_eq!(name_len(""), 0);
        assert_eq!(name_len("{x}"), 0);
    }

    #[test]
    fn digits_make_a_positional_name() {
        assert_eq!(name_len("999aaa"), 3);
        assert_eq!(name_len("001"), 3);
        assert_eq!(name_len("1x"), 1);
    }

    #[test]
    fn special_parameters_are_one_character() {
        assert_eq!(name_len("@@@"), 1);
        assert_eq!(name_len("$x"), 1);
        assert_eq!(name_len("-x"), 1);
        assert_eq!(name_len("#"), 1);
    }

    #[test]
    fn categories_are_go_s() {
        // A combining vowel sign is Alphabetic but not a letter.
        assert!('\u{093E}'.is_alphabetic());
        assert!(!is_letter('\u{093E}'));
        // A roman numeral is numeric but not a decimal digit.
        assert!('Ⅻ'.is_numeric());
        assert!(!is_digit('Ⅻ'));
        assert!(is_digit('٣'));
    }
}
