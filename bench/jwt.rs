//! JWT plan cost per request: `JwtVerifier::verify` of a typical access token (parse, signature,
//! claims) with HS256, RS256 (2048-bit), ES256 and EdDSA keys. A keyless plan checks nothing, so
//! these times are what a JWT plan adds to each request (and to each WebSocket/SSE upgrade).

mod settings;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tidegate::security::jwt::{settings_from_value, unix_now, JwtKeys, JwtVerifier};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn verifier(keys: serde_json::Value) -> JwtVerifier {
    let mut value = json!({ "issuer": "https://idp.test", "audience": "tidegate" });
    value
        .as_object_mut()
        .unwrap()
        .extend(keys.as_object().unwrap().clone());
    let settings = settings_from_value(&value, "bench").unwrap();
    let keys = JwtKeys::start(&settings).unwrap();
    JwtVerifier::new(Arc::new(settings), keys)
}

fn verify(c: &mut Criterion) {
    let now = unix_now();
    let claims = json!({
        "iss": "https://idp.test", "aud": "tidegate", "azp": "app-1", "sub": "alice",
        "exp": now + 3600, "iat": now, "scope": "orders:read orders:write",
    });
    let cases = [
        (
            "hs256",
            Algorithm::HS256,
            EncodingKey::from_secret(SECRET.as_bytes()),
            json!({ "secret": SECRET }),
        ),
        (
            "rs256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(fixture("rsa-private.pem").as_bytes()).unwrap(),
            json!({ "publicKey": fixture("rsa-public.pem") }),
        ),
        (
            "es256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(fixture("ec256-private.pem").as_bytes()).unwrap(),
            json!({ "publicKey": fixture("ec256-public.pem") }),
        ),
        (
            "eddsa",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(fixture("ed25519-private.pem").as_bytes()).unwrap(),
            json!({ "publicKey": fixture("ed25519-public.pem") }),
        ),
    ];
    let mut group = c.benchmark_group("jwt/verify");
    for (name, alg, key, plan) in cases {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
        let verifier = verifier(plan);
        assert!(verifier.verify(&token, now).is_ok());
        group.bench_function(name, |b| {
            b.iter(|| black_box(verifier.verify(black_box(&token), now)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = settings::short_runs();
    targets = verify
}
criterion_main!(benches);
