//! The `authorization` header of a subscription's deliveries: fixed for `basic` and `bearer`;
//! for `oauth2` a client-credentials token fetched from `tokenUrl` with the same HTTP client
//! (and SSRF guard), cached until shortly before its `expires_in`, fetched again on expiry.

use std::cell::RefCell;
use std::time::Duration;

use bytes::Bytes;
use monoio::time::Instant;

use super::client::{self, TryError};
use super::deliver::Target;
use super::http::request_head;
use crate::config::push_model::PushAuth;

/// A token is renewed this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime assumed when the token answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A subscription's authorization.
pub enum AuthHeader {
    /// `auth: basic` or `bearer` (the header value, built once), or no auth (`None`).
    Fixed(Option<String>),
    /// `auth: oauth2`: the access token last fetched and until when it is used (shortly before
    /// its `expires_in`); `None` before the first fetch.
    OAuth2(RefCell<Option<(String, Instant)>>),
}

impl AuthHeader {
    /// The header for `auth`.
    pub fn new(auth: &PushAuth) -> AuthHeader {
        match auth {
            PushAuth::OAuth2 { .. } => AuthHeader::OAuth2(RefCell::new(None)),
            other => AuthHeader::Fixed(super::deliver::static_auth(other)),
        }
    }

    /// The header value for the next try (fetching a token when needed).
    pub async fn value(&self, target: &Target) -> Result<Option<String>, TryError> {
        match self {
            AuthHeader::Fixed(value) => Ok(value.clone()),
            AuthHeader::OAuth2(cached) => {
                if let Some((token, until)) = cached.borrow().as_ref() {
                    if Instant::now() < *until {
                        return Ok(Some(format!("Bearer {token}")));
                    }
                }
                let (token, lifetime) = fetch(target).await?;
                let until = Instant::now()
                    + lifetime
                        .saturating_sub(EXPIRY_MARGIN)
                        .max(Duration::from_secs(1));
                *cached.borrow_mut() = Some((token.clone(), until));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

async fn fetch(target: &Target) -> Result<(String, Duration), TryError> {
    let PushAuth::OAuth2 {
        token_url,
        client_id,
        client_secret,
        scope,
    } = &target.push.auth
    else {
        return Err(TryError::Connect("not an oauth2 subscription".to_owned()));
    };
    let mut form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_encode(client_id),
        form_encode(client_secret.expose())
    );
    if let Some(scope) = scope {
        form.push_str("&scope=");
        form.push_str(&form_encode(scope));
    }
    let head = request_head(
        &token_url.host_header(),
        &token_url.target,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ],
        form.len(),
    );
    let tls = if token_url.https {
        let options = crate::config::MqttTlsOptions {
            ca_file: target.push.tls.ca_file.clone(),
            insecure_skip_verify: target.push.tls.trust_all,
            client_identity: None,
        };
        Some(crate::endpoint::mqtt::tls::client_config(&options).map_err(TryError::Connect)?)
    } else {
        None
    };
    let options = &target.options;
    let mut connection = client::connect(
        token_url,
        &target.allowed,
        options.connect_timeout,
        tls.as_ref(),
    )
    .await?;
    let answer = connection
        .exchange(
            head,
            Bytes::from(form),
            options.read_timeout,
            options.max_response_bytes,
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(TryError::Connect(format!(
            "the OAuth2 token endpoint answered HTTP {}",
            answer.status
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|_| TryError::Connect("the OAuth2 token answer is not JSON".to_owned()))?;
    let token = json
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty() && !t.contains(['\r', '\n']))
        .ok_or_else(|| {
            TryError::Connect("the OAuth2 token answer has no access_token".to_owned())
        })?;
    let lifetime = json
        .get("expires_in")
        .and_then(|e| e.as_u64())
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    Ok((token.to_owned(), lifetime))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_values_are_escaped() {
        assert_eq!(super::form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
