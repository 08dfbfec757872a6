//! Signing secrets shown masked, and found again when a client sends the masked form back.
//!
//! A view shows each signing secret as `********:<id>`, the id being the first 8 hex digits of
//! the secret's SHA-256: it names which stored secret the entry stands for without revealing
//! it (a secret is 24 to 64 random bytes, so the id gives nothing to guess from). On an update a
//! masked entry keeps the stored secret with that id, wherever the client moved it in the list:
//! matching by position kept the wrong secret once a client removed, inserted or reordered
//! entries (e.g. dropping the old secret after a rotation kept the old one). A bare `********`
//! (what earlier views showed) stands for the only stored secret. An entry that matches no
//! stored secret, more than one, or one another entry already keeps is refused, located.

use serde_json::Value;

use super::FieldError;

/// Shown instead of a secret (also alone, for the auth secrets).
pub(super) const MASK: &str = "********";
/// Hex digits of the id shown after the mask.
const ID_HEX_DIGITS: usize = 8;

/// What a view shows for the signing secret `secret`.
pub(super) fn masked(secret: &str) -> String {
    format!("{MASK}:{}", id(secret))
}

/// The id of `secret`: the start of its SHA-256, in hex.
fn id(secret: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut hex = String::with_capacity(ID_HEX_DIGITS);
    for byte in &digest.as_ref()[..ID_HEX_DIGITS / 2] {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Replaces each masked entry of `sent` (an update's `secrets`) by the stored secret it names.
/// `location` gives an entry's location in the request (by index) for a refusal.
pub(super) fn keep_stored(
    sent: &mut [Value],
    stored: &[Value],
    location: impl Fn(usize) -> String,
) -> Result<(), FieldError> {
    let stored: Vec<&str> = stored.iter().filter_map(Value::as_str).collect();
    // For each stored secret, the entry that keeps it.
    let mut kept_by: Vec<Option<usize>> = vec![None; stored.len()];
    for (index, entry) in sent.iter_mut().enumerate() {
        let Some(named) = entry.as_str().and_then(|text| text.strip_prefix(MASK)) else {
            continue;
        };
        let refuse = |message: String| FieldError {
            location: location(index),
            message,
        };
        let candidates: Vec<usize> = match named.strip_prefix(':') {
            None if named.is_empty() => (0..stored.len()).collect(),
            Some(wanted) => (0..stored.len())
                .filter(|&at| id(stored[at]) == wanted)
                .collect(),
            None => Vec::new(),
        };
        let at = match candidates[..] {
            [at] => at,
            [] => {
                return Err(refuse(format!(
                    "{MASK} names no stored signing secret: send the masked value a GET shows for the secret to keep, or the secret itself"
                )))
            }
            _ => {
                return Err(refuse(format!(
                    "a bare {MASK} cannot tell which of the {} stored signing secrets to keep: send the masked value a GET shows ({MASK}:<id>), or the secret itself",
                    stored.len()
                )))
            }
        };
        if let Some(earlier) = kept_by[at] {
            return Err(refuse(format!(
                "names the stored signing secret {} already keeps: each secret once",
                location(earlier)
            )));
        }
        kept_by[at] = Some(index);
        *entry = Value::String(stored[at].to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const B: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";

    fn keep(sent: Value, stored: &[&str]) -> Result<Value, String> {
        let mut sent = sent.as_array().unwrap().clone();
        let stored: Vec<Value> = stored.iter().map(|s| json!(s)).collect();
        keep_stored(&mut sent, &stored, |i| format!("secrets[{i}]"))
            .map(|()| Value::Array(sent))
            .map_err(|error| error.location)
    }

    #[test]
    fn a_masked_secret_keeps_the_stored_one_it_names_wherever_it_moved() {
        let (a, b) = (masked(A), masked(B));
        assert_ne!(a, b);
        assert!(!a.contains(&A[6..]) && a.starts_with(MASK));
        assert_eq!(keep(json!([b, a]), &[A, B]), Ok(json!([B, A])), "reordered");
        assert_eq!(
            keep(json!([b]), &[A, B]),
            Ok(json!([B])),
            "the first removed"
        );
        assert_eq!(
            keep(json!(["whsec_new", a]), &[A, B]),
            Ok(json!(["whsec_new", A])),
            "a new one in front, the second removed"
        );
        assert_eq!(
            keep(json!([MASK]), &[A]),
            Ok(json!([A])),
            "bare, one stored"
        );
    }

    #[test]
    fn a_mask_naming_no_secret_or_several_is_refused_at_its_entry() {
        let (a, b) = (masked(A), masked(B));
        assert_eq!(
            keep(json!(["x", a]), &[B]),
            Err("secrets[1]".into()),
            "gone"
        );
        assert_eq!(
            keep(json!([MASK]), &[A, B]),
            Err("secrets[0]".into()),
            "bare, two"
        );
        assert_eq!(
            keep(json!([MASK]), &[]),
            Err("secrets[0]".into()),
            "none stored"
        );
        let unknown = format!("{MASK}:00000000");
        assert_eq!(keep(json!([unknown]), &[A]), Err("secrets[0]".into()));
        assert_eq!(
            keep(json!([b, b]), &[A, B]),
            Err("secrets[1]".into()),
            "twice"
        );
        assert_eq!(keep(json!([MASK, MASK]), &[A]), Err("secrets[1]".into()));
    }
}
