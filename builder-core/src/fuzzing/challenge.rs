//! The `challenge` target: the `WWW-Authenticate` headers of a registry's 401 answer.

use crate::registry::auth::Challenge;

/// Parses each line of `data` (UTF-8) as a `WWW-Authenticate` header value and looks up
/// the parameters a token request uses.
///
/// # Panics
///
/// When a header with a scheme gives no challenge or a blank one gives one, when the
/// scheme or a key is not lowercase or the scheme is not one word, when a parameter
/// lookup does not give the first value of its key, or when the code under test panics.
pub fn auth_challenge(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for header in text.split('\n') {
        let parsed = Challenge::parse(header);
        assert_eq!(parsed.is_none(), header.trim().is_empty(), "`{header}`");
        let Some(challenge) = parsed else {
            continue;
        };
        let scheme = &challenge.scheme;
        assert!(
            !scheme.is_empty() && !scheme.contains(' '),
            "scheme `{scheme}`"
        );
        assert_eq!(*scheme, scheme.to_ascii_lowercase());
        for (key, value) in &challenge.params {
            assert_eq!(*key, key.to_ascii_lowercase());
            let first = challenge.params.iter().find(|(k, _)| k == key);
            assert_eq!(challenge.param(key), first.map(|(_, v)| v.as_str()));
            assert!(value.len() <= header.len());
        }
        for key in ["realm", "service", "scope"] {
            let _ = challenge.param(key);
        }
    }
}
