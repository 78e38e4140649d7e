//! The `reference` target: image references as `FROM`, `--tag`, `pull` and an archive's
//! names give them.

use crate::plan::Reference;

/// Parses `data` (UTF-8) as an image reference.
///
/// # Panics
///
/// When a reference that parses does not parse back to itself from its full form, from
/// the short form docker shows or through serde, when replacing its tag or digest gives
/// something that does not parse back, or when the code under test panics.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reference) = text.parse::<Reference>() else {
        return;
    };
    same(&reference, &reference.to_string());
    same(&reference, &reference.familiar());
    let json = serde_json::to_string(&reference).expect("a reference serializes");
    let back: Reference = serde_json::from_str(&json).expect("a reference deserializes");
    assert_eq!(back, reference);
    if let Some(digest) = reference.digest() {
        let pinned = reference.with_digest(digest.clone());
        same(&pinned, &pinned.to_string());
    }
    if let Ok(tagged) = reference.with_tag("fuzz") {
        same(&tagged, &tagged.to_string());
    }
    assert!(!reference.domain().is_empty() && !reference.path().is_empty());
    assert!(reference.tag().is_some() || reference.digest().is_some());
}

/// Asserts that `text` parses to `reference`.
fn same(reference: &Reference, text: &str) {
    let parsed: Result<Reference, _> = text.parse();
    assert_eq!(
        parsed.as_ref(),
        Ok(reference),
        "`{text}` does not parse back"
    );
}
