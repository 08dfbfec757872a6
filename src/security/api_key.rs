//! API keys: how they are made, hashed, found in a request and compared.
//!
//! A key is 32 bytes from the system CSPRNG (256 bits, at least the 128 the issue asks), written
//! as 43 base64url characters. The gateway keeps only its SHA-256: a plain, unsalted hash is
//! enough for a key with 256 bits of entropy, because nobody can enumerate the key space to
//! invert it (salting and slow hashes exist for low-entropy passwords); and it keeps the lookup
//! one hash and one map probe per request.

use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::codec::http_head::RequestHead;
use crate::config::{KeyHash, API_KEY_QUERY_PARAMETER};

/// Bytes of randomness in a generated key.
const KEY_BYTES: usize = 32;

/// A new random key and its hash, or why the system CSPRNG failed.
pub fn generate() -> Result<(String, KeyHash), String> {
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random number generator is unavailable".to_owned())?;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(key.as_bytes());
    Ok((key, hash))
}

/// The SHA-256 of a presented key.
pub fn hash(key: &[u8]) -> KeyHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, key).as_ref());
    KeyHash(out)
}

/// Equality of two hashes in time that does not depend on where they differ.
///
/// The map probe before it already found an entry by this very hash, so this is a second,
/// deliberate check: a lookup keyed by SHA-256 leaks at most timing about the hash of the key
/// tried, and learning bytes of a hash does not help find a key that hashes to a stored one
/// (preimage resistance). The compare keeps that argument from resting on the map's internals.
pub fn hashes_equal(a: &KeyHash, b: &KeyHash) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.0.iter().zip(b.0.iter()) {
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

/// The API key a request presents: the first of `headers` that is present (names matched
/// case-insensitively), else the `api-key` query parameter. `Some(Err(()))` for a key that is
/// present but empty.
pub fn presented<'a>(
    head: &RequestHead,
    headers: impl IntoIterator<Item = &'a str>,
) -> Option<Result<KeyHash, ()>> {
    for name in headers {
        if let Some(value) = head.header(name) {
            let value = value.trim_ascii();
            return Some(if value.is_empty() {
                Err(())
            } else {
                Ok(hash(value))
            });
        }
    }
    let value = head.query_param(API_KEY_QUERY_PARAMETER)?;
    Some(if value.is_empty() {
        Err(())
    } else {
        Ok(hash(value.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_distinct_and_hash_to_their_hash() {
        let (a, hash_a) = generate().unwrap();
        let (b, _) = generate().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash(a.as_bytes()), hash_a);
        let text = hash_a.to_config_text();
        assert_eq!(KeyHash::from_config_text(&text), Some(hash_a));
    }

    #[test]
    fn known_sha256() {
        assert_eq!(
            hash(b"abc").to_config_text(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn equal_only_when_every_byte_is() {
        let a = hash(b"a");
        let mut b = a;
        assert!(hashes_equal(&a, &b));
        b.0[31] ^= 1;
        assert!(!hashes_equal(&a, &b));
    }
}
