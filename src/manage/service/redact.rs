//! Secrets taken out of answers where they must not show: every audit event's bodies (an audit
//! log is read widely and kept long), and every answer to a viewer's token (read-only access is
//! not access to broker credentials). By key name, wherever in the document it stands: the
//! configuration's secret-bearing keys are few and fixed (broker and webhook `password`, bearer
//! `token`, OAuth `clientSecret`, signing `secrets`, JWT `secret`, Kafka `keyContent`, API key
//! `hash`); besides, the values of a webhook's `headers` (an `Authorization` or API-key header
//! set there) and the user info and query of a `callbackUrl` (`?token=…`).

use serde_json::Value;

use super::masked_secrets::MASK;

/// The keys whose values are secrets, wherever they stand in a definition or subscription.
const SECRET_KEYS: &[&str] = &[
    "password",
    "token",
    "clientSecret",
    "secret",
    "secrets",
    "keyContent",
    "hash",
];

/// `value` with every secret replaced by the mask (each entry of a list of secrets, one by one).
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match key.as_str() {
                    key if SECRET_KEYS.contains(&key) => mask(field),
                    "headers" => match field {
                        Value::Object(headers) => headers.values_mut().for_each(mask),
                        other => redact_secrets(other),
                    },
                    "callbackUrl" => {
                        if let Value::String(url) = field {
                            *url = url_without_secrets(url);
                        }
                    }
                    _ => redact_secrets(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// Where `value` holds a mask as a secret (a viewer's answer sent back): the paths of those
/// keys, as `endpoint.configuration.password`, `plans[0].configuration.secret`.
pub(super) fn masked_secret_paths(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_masked(value, "", &mut found);
    found
}

fn collect_masked(value: &Value, path: &str, found: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let is_mask = |v: &Value| v.as_str().is_some_and(|text| text.starts_with(MASK));
                let masked = SECRET_KEYS.contains(&key.as_str())
                    && (is_mask(field)
                        || field
                            .as_array()
                            .is_some_and(|items| items.iter().any(is_mask)));
                if masked {
                    found.push(join(key));
                } else {
                    collect_masked(field, &join(key), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_masked(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// `url` with its user info and its query masked: either may carry a credential.
fn url_without_secrets(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, _)) => (base, Some(MASK)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{MASK}@{host}{}", &rest[end..]),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    match query {
        Some(mask) => format!("{base}?{mask}"),
        None => base,
    }
}

fn mask(value: &mut Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => items.iter_mut().for_each(mask),
        other => *other = Value::from(MASK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_wherever_they_stand_and_nothing_else() {
        let mut definition = json!({
            "id": "orders",
            "endpoint": {"configuration": {"security": {
                "sasl": {"mechanism": "PLAIN", "username": "u", "password": "hunter2"},
                "ssl": {"keyStore": {"keyContent": "-----BEGIN PRIVATE KEY-----"}}}}},
            "plans": [{"security": "jwt", "configuration": {"secret": "s3cret", "secretEnv": "X"}}],
            "push": {"auth": {"type": "oauth2", "clientId": "c", "clientSecret": "cs"},
                     "secrets": ["whsec_a", "whsec_b"], "bearer": {"token": "t"}},
            "expiresAt": null,
            "password": null,
            "subscription": {"callbackUrl": "https://user:pw@hooks.example.com/in?token=q1&x=2",
                "headers": {"Authorization": "Bearer h1", "X-Source": "tidegate"},
                "apiKeys": [{"id": "k", "hash": "sha256:ab"}]},
        });
        redact_secrets(&mut definition);
        let text = definition.to_string();
        for secret in [
            "hunter2",
            "PRIVATE KEY",
            "s3cret",
            "\"cs\"",
            "whsec_",
            "\"t\"",
            "pw@",
            "q1",
            "h1",
            "sha256:ab",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(definition["push"]["secrets"], json!([MASK, MASK]));
        assert_eq!(definition["plans"][0]["configuration"]["secretEnv"], "X");
        assert_eq!(
            definition["endpoint"]["configuration"]["security"]["sasl"]["username"],
            "u"
        );
        assert_eq!(definition["password"], Value::Null, "nothing to hide");
        assert_eq!(
            definition["subscription"]["callbackUrl"],
            format!("https://{MASK}@hooks.example.com/in?{MASK}")
        );
        assert_eq!(url_without_secrets("http://h:8080/p"), "http://h:8080/p");
        assert_eq!(definition["subscription"]["apiKeys"][0]["id"], "k");
        // Sent back as it was read, the masks are found where they stand.
        let paths = masked_secret_paths(&definition);
        assert!(
            paths.contains(&"plans[0].configuration.secret".to_owned()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"endpoint.configuration.security.sasl.password".to_owned()),
            "{paths:?}"
        );
        assert!(masked_secret_paths(&json!({"password": "real"})).is_empty());
    }
}
