//! A JSON object whose member names are unique: the only shape a JOSE header or a claims set may
//! have (RFC 7515 §4, RFC 7519 §4: duplicate names MUST be rejected or only the last used).
//!
//! Refusing is the safe choice: two parsers that pick different duplicates (a proxy and this
//! gateway) would read two different tokens from the same bytes.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A top-level JSON object decoded with duplicate member names refused.
#[derive(Debug, Default)]
pub(super) struct UniqueObject(pub(super) Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueObjectVisitor)
    }
}

struct UniqueObjectVisitor;

impl<'de> Visitor<'de> for UniqueObjectVisitor {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
        let mut map = Map::new();
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            if map.contains_key(&name) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate member {name:?}"
                )));
            }
            map.insert(name, value);
        }
        Ok(UniqueObject(map))
    }
}

/// Decodes `bytes` as one JSON object with unique member names (nothing may follow it).
pub(super) fn parse_unique_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .map(|object| object.0)
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_unique_object;

    #[test]
    fn duplicates_and_non_objects_are_refused() {
        assert!(parse_unique_object(br#"{"alg":"HS256","kid":"a"}"#).is_ok());
        let duplicate = parse_unique_object(br#"{"alg":"HS256","alg":"none"}"#).unwrap_err();
        assert!(
            duplicate.contains("duplicate member \"alg\""),
            "{duplicate}"
        );
        for bad in [&b"[1]"[..], b"\"x\"", b"{} {}", b"{", b"", b"null"] {
            assert!(parse_unique_object(bad).is_err(), "{bad:?}");
        }
    }
}
