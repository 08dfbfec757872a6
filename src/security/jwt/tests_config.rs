//! A JWT plan's `configuration:`: defaults, and every mistake reported with what to fix.

use serde_json::json;

use super::algorithm::JwtAlgorithm::*;
use super::config::{settings_from_value, KeySource};
use super::test_tokens::*;

fn problems(value: serde_json::Value) -> Vec<String> {
    match settings_from_value(&value, "apis[0].plans[0].configuration") {
        Ok(settings) => panic!("accepted: {settings:?}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn defaults_follow_the_key() {
    let secret = plan(json!({ "secret": SECRET }));
    assert_eq!(secret.algorithms, [Hs256, Hs384, Hs512]);
    assert_eq!(secret.clock_skew.as_secs(), 60);
    assert_eq!(secret.max_token_bytes, 8192);
    assert_eq!(secret.client_id_claims, ["azp", "client_id"]);
    assert_eq!(secret.token_query_parameter, "access_token");
    let short = plan(json!({ "secret": &SECRET[..40] }));
    assert_eq!(
        short.algorithms,
        [Hs256],
        "a 40-byte secret is too short for HS384"
    );
    let rsa = plan(json!({ "publicKey": RSA_PUBLIC }));
    assert_eq!(rsa.algorithms, [Rs256, Rs384, Rs512, Ps256, Ps384, Ps512]);
    assert_eq!(
        plan(json!({ "publicKey": EC384_PUBLIC })).algorithms,
        [Es384]
    );
    assert_eq!(plan(json!({ "publicKey": ED_PUBLIC })).algorithms, [EdDsa]);
    let url = plan(json!({ "jwksUrl": "https://idp.example/.well-known/jwks.json" }));
    assert!(matches!(url.keys, KeySource::JwksUrl(_)));
    assert!(!url
        .algorithms
        .iter()
        .any(|alg| alg.name().starts_with("HS")));
}

#[test]
fn the_secret_may_come_from_the_environment() {
    std::env::set_var("TIDEGATE_TEST_JWT_SECRET", SECRET);
    let settings = plan(json!({ "secretEnv": "TIDEGATE_TEST_JWT_SECRET" }));
    assert_eq!(settings.algorithms, [Hs256, Hs384, Hs512]);
    let missing = problems(json!({ "secretEnv": "TIDEGATE_TEST_JWT_UNSET_VARIABLE" }));
    assert_eq!(
        missing,
        ["apis[0].plans[0].configuration.secretEnv: environment variable \"TIDEGATE_TEST_JWT_UNSET_VARIABLE\" is not set (or not UTF-8)"]
    );
}

#[test]
fn key_mistakes_say_what_to_fix() {
    let none = problems(json!({}));
    assert!(none[0].contains("name exactly one key source"), "{none:?}");
    let two = problems(json!({ "secret": SECRET, "publicKey": RSA_PUBLIC }));
    assert!(two[0].ends_with("got secret, publicKey"), "{two:?}");
    let short = problems(json!({ "secret": "short" }));
    assert!(
        short[0].contains("secret: must be at least 32 bytes"),
        "{short:?}"
    );
    let private = problems(json!({ "publicKey": RSA_PRIVATE }));
    assert!(private[0].contains("holds a private key"), "{private:?}");
    let garbage = problems(
        json!({ "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }),
    );
    assert!(
        garbage[0].contains("publicKey: is not a PEM"),
        "{garbage:?}"
    );
    let missing = problems(json!({ "jwksFile": "/nonexistent/jwks.json" }));
    assert!(missing[0].contains("jwksFile: cannot read"), "{missing:?}");
    let plain = problems(json!({ "jwksUrl": "http://idp.example/jwks.json" }));
    assert!(plain[0].contains("use https"), "{plain:?}");
    assert!(settings_from_value(&json!({ "jwksUrl": "http://127.0.0.1:9/k" }), "").is_ok());
}

#[test]
fn algorithm_and_limit_mistakes_say_what_to_fix() {
    let confusion = problems(json!({ "publicKey": RSA_PUBLIC, "algorithms": ["HS256", "RS256"] }));
    assert_eq!(
        confusion,
        ["apis[0].plans[0].configuration.algorithms[0]: HS256 does not fit the configured key (its type or, for HMAC, its length)"]
    );
    let unknown = problems(json!({ "secret": SECRET, "algorithms": ["none"] }));
    assert!(
        unknown[0].contains("unknown algorithm \"none\""),
        "{unknown:?}"
    );
    let long_alg = problems(json!({ "secret": &SECRET[..40], "algorithms": ["HS512"] }));
    assert!(long_alg[0].contains("HS512 does not fit"), "{long_alg:?}");
    let all = problems(json!({
        "secret": SECRET, "maxTokenBytes": 10, "clockSkewSeconds": 3600,
        "tokenQueryParameter": "a b", "clientIdClaim": "", "issuer": [""],
    }));
    assert_eq!(all.len(), 5, "{all:?}");
    let unknown_key = problems(json!({ "secret": SECRET, "jku": "https://x" }));
    assert!(
        unknown_key[0].contains("unknown field `jku`"),
        "{unknown_key:?}"
    );
}
