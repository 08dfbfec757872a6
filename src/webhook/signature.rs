//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): every delivery carries
//! `webhook-id` (the same on every retry of a message), `webhook-timestamp` (seconds, when this
//! try was sent) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one
//! `v1,` entry per secret (space-separated): during a rotation the receiver accepts either.

use base64::Engine;
use ring::hmac;

use crate::config::push_model::SigningSecret;

/// The `webhook-signature` value for `id`, `timestamp` and `body` under each of `secrets`.
pub fn signature(secrets: &[SigningSecret], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut value = String::new();
    for secret in secrets {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret.0);
        let mut context = hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        let tag = context.sign();
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str("v1,");
        value.push_str(&base64::engine::general_purpose::STANDARD.encode(tag.as_ref()));
    }
    value
}

/// The `webhook-id` of a message: stable across retries and restarts of one subscription
/// (the subscription id and the message's position), so receivers can de-duplicate.
pub fn message_id(subscription: &str, position: &str) -> String {
    format!("msg_{subscription}_{position}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks reference implementations' tests.
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let body = br#"{"test": 2432232314}"#;
        let value = signature(
            &[SigningSecret(secret)],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        assert_eq!(value, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_signatures() {
        let value = signature(
            &[SigningSecret(vec![1; 24]), SigningSecret(vec![2; 24])],
            "msg_1",
            1,
            b"x",
        );
        assert_eq!(value.split(' ').count(), 2);
        assert!(value.split(' ').all(|part| part.starts_with("v1,")));
    }
}
