//! "Did you mean …?" for a misspelled keyword, flag or name.

/// The candidate closest to `word` by edit distance, ignoring case, if it is within a
/// third of the word's length (at least one edit).
pub(crate) fn closest<S: AsRef<str> + Clone>(word: &str, candidates: &[S]) -> Option<S> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| {
            let distance =
                strsim::damerau_levenshtein(&word, &candidate.as_ref().to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_words_are_suggested() {
        let keywords = ["RUN", "COPY", "WORKDIR", "ENTRYPOINT"];
        assert_eq!(closest("RUNN", &keywords), Some("RUN"));
        assert_eq!(closest("cpoy", &keywords), Some("COPY"));
        assert_eq!(closest("WORKDI", &keywords), Some("WORKDIR"));
        assert_eq!(closest("ENTRYPONT", &keywords), Some("ENTRYPOINT"));
        assert_eq!(closest("FOO", &keywords), None);
        assert_eq!(closest("X", &keywords), None);
    }
}
