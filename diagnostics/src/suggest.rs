//! "Did you mean …?" by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_words_are_suggested() {
        assert_eq!(
            did_you_mean("aftr", ["after", "run"]),
            Some("did you mean `after`?".into())
        );
        assert_eq!(did_you_mean("xyz", ["after", "run"]), None);
        // A swap of two neighbours is one edit.
        assert_eq!(
            did_you_mean("gti", ["git", "jq"]),
            Some("did you mean `git`?".into())
        );
    }
}
