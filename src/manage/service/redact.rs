//! Secrets taken out of answers where they must not show: every audit event's bodies (an audit
//! log is read widely and kept long), and every answer to a viewer's token (read-only access is
//! not access to broker credentials). By key name, wherever in the document it stands: the
//! configuration's secret-bearing keys are few and fixed (broker and webhook `password`, bearer
//! `token`, OAuth `clientSecret`, signing `secrets`, JWT `secret`, Kafka `keyContent`).

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
];

/// `value` with every secret replaced by the mask (each entry of a list of secrets, one by one).
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) {
                    mask(field);
                } else {
                    redact_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
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
    }
}
