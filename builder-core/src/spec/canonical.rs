//! Canonical JSON: the bytes we hash for manifests, indexes and configs.

use serde::Serialize;

/// `value` as compact JSON with the keys of every object sorted, so that equal values give
/// equal bytes (and digests) whatever the order of their maps in memory.
///
/// oci-spec keeps annotations in a `HashMap`, whose order changes from run to run; going
/// through `serde_json::Value`, whose objects are sorted maps, fixes the order.
///
/// # Errors
///
/// When `value` cannot be represented as JSON (a map with non-string keys).
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&serde_json::to_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_of_hash_maps() -> Result<(), serde_json::Error> {
        let map: std::collections::HashMap<&str, u8> =
            [("b", 1), ("a", 2), ("c", 3)].into_iter().collect();
        assert_eq!(canonical_json(&map)?, br#"{"a":2,"b":1,"c":3}"#);
        Ok(())
    }
}
