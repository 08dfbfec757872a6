//! API keys of a subscription (`apiKeys: [{hash, expireAt, revoked}]`, as in the YAML file). The
//! clear key is shown once, in the answer that creates it; the store keeps its SHA-256 only. A
//! key's id is the start of its hash: stable, and useless to a guesser.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::views::time;
use super::{ErrorKind, ServiceError};
use crate::security::api_key;

/// How long a renewed key's predecessor keeps working: time to roll the new key out.
pub const RENEW_GRACE: Duration = Duration::from_secs(3600);

/// Hex digits of the hash that make a key's id.
const KEY_ID_DIGITS: usize = 16;

/// A new key: the entry to store and the answer that shows the clear key once.
pub(super) fn new_key() -> Result<(Value, Value), ServiceError> {
    let (key, hash) = api_key::generate().map_err(|message| {
        ServiceError::new(ErrorKind::Unavailable, "key.random_unavailable", message)
    })?;
    let hash = hash.to_config_text();
    let id = key_id(&hash).to_owned();
    Ok((
        json!({ "hash": hash, "revoked": false }),
        json!({ "id": id, "key": key }),
    ))
}

/// `sha256:0123…` → `0123…` (its first hex digits).
pub(super) fn key_id(hash: &str) -> &str {
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    &hex[..hex.len().min(KEY_ID_DIGITS)]
}

/// What `GET …/api-keys` shows of a stored key (never its hash).
pub(super) fn key_view(entry: &Value) -> Value {
    let hash = entry
        .get("hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    json!({
        "id": key_id(hash),
        "expireAt": entry.get("expireAt").cloned().unwrap_or(Value::Null),
        "revoked": entry.get("revoked").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Gives every live key without an expiry one `RENEW_GRACE` from now.
pub(super) fn expire_live_keys(keys: &mut [Value], now: SystemTime) {
    let at = time(now + RENEW_GRACE);
    for entry in keys {
        let revoked = entry
            .get("revoked")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !revoked && entry.get("expireAt").is_none_or(Value::is_null) {
            entry["expireAt"] = Value::String(at.clone());
        }
    }
}
