//! Every algorithm accepted when signed right, and the RFC 8725 attack corpus refused: tokens
//! forged with the fixture keys, the hostile ones hand-crafted.

use std::sync::Arc;

use jsonwebtoken::EncodingKey;
use serde_json::json;

use super::algorithm::JwtAlgorithm::{self, *};
use super::config::JwtSettings;
use super::refusal::JwtRefusal;
use super::test_tokens::*;
use super::verifier::{JwtKeys, JwtVerifier};

fn verifier(settings: JwtSettings) -> JwtVerifier {
    let keys = JwtKeys::start(&settings).unwrap();
    JwtVerifier::new(Arc::new(settings), keys)
}

fn secret_plan() -> JwtVerifier {
    verifier(plan(json!({ "secret": SECRET })))
}

fn rsa_plan() -> JwtVerifier {
    verifier(plan(json!({ "publicKey": RSA_PUBLIC })))
}

fn jwks_plan() -> JwtVerifier {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, JWKS).unwrap();
    verifier(plan(json!({ "jwksFile": path.to_str().unwrap() })))
}

#[test]
fn every_algorithm_verifies_with_its_own_key() {
    let by_pem = [
        (Es256, EC256_PUBLIC),
        (Es384, EC384_PUBLIC),
        (EdDsa, ED_PUBLIC),
    ];
    let jwks = jwks_plan();
    for alg in JwtAlgorithm::ALL {
        let token = token(alg, &good_claims());
        let inline = match alg.family() {
            super::KeyFamily::Hmac => secret_plan(),
            super::KeyFamily::Rsa => rsa_plan(),
            _ => {
                let pem = by_pem.iter().find(|(a, _)| *a == alg).unwrap().1;
                verifier(plan(json!({ "publicKey": pem })))
            }
        };
        let verified = inline
            .verify(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(verified.client_id, "app-1");
        assert_eq!(verified.subject.as_deref(), Some("alice"));
        assert_eq!(verified.expires_at, NOW + 300);
        if alg.family() != super::KeyFamily::Hmac {
            let header = format!(r#"{{"alg":"{}","kid":"{}"}}"#, alg.name(), jwks_kid(alg));
            let with_kid = forge(&header, &good_claims(), &signing_key(alg), alg);
            assert!(jwks.verify(&with_kid, NOW).is_ok(), "{alg:?} from the JWKS");
        }
    }
}

fn refused(verifier: &JwtVerifier, token: &str) -> JwtRefusal {
    match verifier.verify(token, NOW) {
        Ok(verified) => panic!("accepted {token}: {verified:?}"),
        Err(refusal) => refusal,
    }
}

fn unsigned(header: &str, claims: &str) -> String {
    format!("{}.{}.", b64(header), b64(claims))
}

#[test]
fn alg_none_is_refused_in_every_spelling() {
    for name in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{name}"}}"#);
        for plan in [secret_plan(), rsa_plan(), jwks_plan()] {
            let bare = unsigned(&header, &good_claims());
            assert!(matches!(refused(&plan, &bare), JwtRefusal::Algorithm(_)));
            let with_sig = format!("{bare}c2ln");
            assert!(matches!(
                refused(&plan, &with_sig),
                JwtRefusal::Algorithm(_)
            ));
        }
    }
}

#[test]
fn hmac_signed_with_the_public_key_is_refused() {
    // The classic confusion: the attacker knows the RSA public key and uses it as an HMAC secret.
    let confused_key = EncodingKey::from_secret(RSA_PUBLIC.as_bytes());
    for alg in [Hs256, Hs384, Hs512] {
        let header = format!(r#"{{"alg":"{}","kid":"rsa-1"}}"#, alg.name());
        let forged = forge(&header, &good_claims(), &confused_key, alg);
        assert!(matches!(
            refused(&rsa_plan(), &forged),
            JwtRefusal::Algorithm(_)
        ));
        assert!(matches!(
            refused(&jwks_plan(), &forged),
            JwtRefusal::Algorithm(_)
        ));
    }
    // Even a plan whose list names HS256 never checks it with a public key.
    let mut settings = plan(json!({ "publicKey": RSA_PUBLIC }));
    settings.algorithms.push(Hs256);
    let forced = verifier(settings);
    let forged = forge(r#"{"alg":"HS256"}"#, &good_claims(), &confused_key, Hs256);
    assert!(matches!(
        refused(&forced, &forged),
        JwtRefusal::UnknownKey(_)
    ));
    // And the other way: an RS256 token is not checked with an HMAC secret.
    assert!(matches!(
        refused(&secret_plan(), &token(Rs256, &good_claims())),
        JwtRefusal::Algorithm(_)
    ));
}

#[test]
fn a_key_of_another_curve_or_family_is_never_tried() {
    // ES384 token, plan with a P-256 key only: the algorithm does not fit the key.
    let p256 = verifier(plan(json!({ "publicKey": EC256_PUBLIC })));
    assert!(matches!(
        refused(&p256, &token(Es384, &good_claims())),
        JwtRefusal::Algorithm(_)
    ));
    // A JWKS kid pointing at a key of another family.
    let header = r#"{"alg":"ES256","kid":"rsa-1"}"#;
    let wrong_family = forge(header, &good_claims(), &signing_key(Es256), Es256);
    assert!(matches!(
        refused(&jwks_plan(), &wrong_family),
        JwtRefusal::UnknownKey(_)
    ));
}

#[test]
fn key_carrying_headers_are_refused_even_when_signed_right() {
    for extra in [
        r#""jku":"https://attacker.example/jwks.json""#,
        r#""x5u":"https://attacker.example/cert.pem""#,
        r#""jwk":{"kty":"oct","k":"c2VjcmV0"}"#,
        r#""x5c":["MIIB"]"#,
    ] {
        let header = format!(r#"{{"alg":"HS256",{extra}}}"#);
        let token = forge(&header, &good_claims(), &signing_key(Hs256), Hs256);
        assert!(
            matches!(refused(&secret_plan(), &token), JwtRefusal::Header(_)),
            "{extra}"
        );
    }
}

#[test]
fn crit_and_foreign_typ_are_refused() {
    for extra in [
        r#""crit":["exp"],"exp":1"#,
        r#""crit":[]"#,
        r#""crit":["b64"],"b64":false"#,
        r#""typ":"JWE""#,
        r#""typ":"secevent+jwt""#,
    ] {
        let header = format!(r#"{{"alg":"HS256",{extra}}}"#);
        let token = forge(&header, &good_claims(), &signing_key(Hs256), Hs256);
        assert!(
            matches!(refused(&secret_plan(), &token), JwtRefusal::Header(_)),
            "{extra}"
        );
    }
    for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
        let header = format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#);
        let token = forge(&header, &good_claims(), &signing_key(Hs256), Hs256);
        assert!(secret_plan().verify(&token, NOW).is_ok(), "{typ}");
    }
}

#[test]
fn time_claims_are_checked_with_the_clock_skew() {
    let plan = secret_plan();
    let at = |exp: u64, nbf: u64| {
        let claims = format!(
            r#"{{"azp":"app-1","iss":"https://idp.test","aud":"tidegate","exp":{exp},"nbf":{nbf}}}"#
        );
        plan.verify(&token(Hs256, &claims), NOW)
    };
    assert!(matches!(
        at(NOW - 61, NOW - 100),
        Err(JwtRefusal::Expired { .. })
    ));
    assert!(matches!(
        at(NOW - 60, NOW - 100),
        Err(JwtRefusal::Expired { .. })
    ));
    assert!(at(NOW - 59, NOW - 100).is_ok(), "inside the 60 s skew");
    assert!(matches!(
        at(NOW + 300, NOW + 61),
        Err(JwtRefusal::NotYetValid { .. })
    ));
    assert!(at(NOW + 300, NOW + 60).is_ok(), "inside the 60 s skew");
    let no_exp = r#"{"azp":"app-1","iss":"https://idp.test","aud":"tidegate"}"#;
    assert!(matches!(
        refused(&plan, &token(Hs256, no_exp)),
        JwtRefusal::Malformed(_)
    ));
    let text_exp = r#"{"azp":"app-1","iss":"https://idp.test","aud":"tidegate","exp":"2099"}"#;
    assert!(matches!(
        refused(&plan, &token(Hs256, text_exp)),
        JwtRefusal::Malformed(_)
    ));
}

#[test]
fn issuer_audience_and_client_are_checked() {
    let plan = secret_plan();
    let with = |members: &str| {
        let claims = format!(r#"{{"exp":{},{members}}}"#, NOW + 60);
        plan.verify(&token(Hs256, &claims), NOW)
    };
    let ok = r#""iss":"https://idp.test","aud":"tidegate","azp":"app-1""#;
    assert!(with(ok).is_ok());
    assert!(matches!(
        with(r#""iss":"https://evil.test","aud":"tidegate","azp":"a""#),
        Err(JwtRefusal::Issuer(_))
    ));
    assert!(matches!(
        with(r#""aud":"tidegate","azp":"a""#),
        Err(JwtRefusal::Issuer(_))
    ));
    assert!(matches!(
        with(r#""iss":"https://idp.test","aud":"other","azp":"a""#),
        Err(JwtRefusal::Audience(_))
    ));
    assert!(matches!(
        with(r#""iss":"https://idp.test","azp":"a""#),
        Err(JwtRefusal::Audience(_))
    ));
    assert!(with(r#""iss":"https://idp.test","aud":["x","tidegate"],"azp":"a""#).is_ok());
    assert!(matches!(
        with(r#""iss":"https://idp.test","aud":"tidegate""#),
        Err(JwtRefusal::NoClient(_))
    ));
    assert!(matches!(
        with(r#""iss":"https://idp.test","aud":"tidegate","azp":"""#),
        Err(JwtRefusal::NoClient(_))
    ));
    let fallback = with(r#""iss":"https://idp.test","aud":"tidegate","client_id":"app-2""#);
    assert_eq!(fallback.unwrap().client_id, "app-2");
}

#[test]
fn oversized_and_malformed_tokens_are_refused() {
    let plan = secret_plan();
    let padding = "x".repeat(9000);
    let big_claims = format!(r#"{{"azp":"app-1","exp":{},"pad":"{padding}"}}"#, NOW + 60);
    assert!(matches!(
        refused(&plan, &token(Hs256, &big_claims)),
        JwtRefusal::TooLarge { .. }
    ));
    let good = token(Hs256, &good_claims());
    let (input, signature) = good.rsplit_once('.').unwrap();
    let (header, payload) = input.split_once('.').unwrap();
    let malformed = [
        input.to_owned(),
        format!("{good}.extra"),
        format!("{good}.a.b"),
        format!("{header}=.{payload}.{signature}"),
        format!("{header}.{payload}.{signature}="),
        format!("{header}.{payload} .{signature}"),
        format!("{input}.{}", signature.replace('_', "/")),
        format!("{}.{payload}.{signature}", b64("[1,2]")),
        format!("{}.{payload}.{signature}", b64(r#"{"alg":"HS256"} x"#)),
        format!("{header}.{}.{signature}", b64("not json")),
        format!("{input}."),
        "..".to_owned(),
        String::new(),
    ];
    for bad in malformed {
        let refusal = refused(&plan, &bad);
        assert!(
            matches!(refusal, JwtRefusal::Malformed(_)),
            "{bad}: {refusal:?}"
        );
    }
}

#[test]
fn duplicate_members_and_odd_header_types_are_refused() {
    let plan = secret_plan();
    let key = signing_key(Hs256);
    let cases = [
        (r#"{"alg":"HS256","alg":"HS256"}"#.to_owned(), good_claims()),
        (
            r#"{"alg":"HS256"}"#.to_owned(),
            format!(r#"{{"azp":"a","exp":{},"exp":{}}}"#, NOW - 999, NOW + 60),
        ),
        (r#"{"alg":["HS256"]}"#.to_owned(), good_claims()),
        (r#"{"alg":"HS256","kid":7}"#.to_owned(), good_claims()),
        (
            r#"{"alg":"HS256","enc":"A128GCM"}"#.to_owned(),
            good_claims(),
        ),
        (r#"{"kid":"x"}"#.to_owned(), good_claims()),
    ];
    for (header, claims) in cases {
        let token = forge(&header, &claims, &key, Hs256);
        assert!(
            matches!(refused(&plan, &token), JwtRefusal::Malformed(_)),
            "{header} {claims}"
        );
    }
}

#[test]
fn tampered_or_foreign_signatures_are_refused() {
    let plan = rsa_plan();
    let good = token(Rs256, &good_claims());
    let (input, signature) = good.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let other_claims = good_claims().replace("app-1", "app-2");
    let tampered = format!("{header}.{}.{signature}", b64(&other_claims));
    assert_eq!(refused(&plan, &tampered), JwtRefusal::Signature);
    let other_key = EncodingKey::from_rsa_pem(RSA2_PRIVATE.as_bytes()).unwrap();
    let foreign = forge(r#"{"alg":"RS256"}"#, &good_claims(), &other_key, Rs256);
    assert_eq!(refused(&plan, &foreign), JwtRefusal::Signature);
    // PS256 signature presented as RS256: same key, other padding.
    let ps = token(Ps256, &good_claims());
    let (_, ps_signature) = ps.rsplit_once('.').unwrap();
    assert_eq!(
        refused(&plan, &format!("{input}.{ps_signature}")),
        JwtRefusal::Signature
    );
}

#[test]
fn a_plan_accepts_only_its_listed_algorithms() {
    let listed = verifier(plan(
        json!({ "publicKey": RSA_PUBLIC, "algorithms": ["RS256"] }),
    ));
    assert!(listed.verify(&token(Rs256, &good_claims()), NOW).is_ok());
    for alg in [Rs384, Ps256] {
        let refusal = refused(&listed, &token(alg, &good_claims()));
        assert!(matches!(refusal, JwtRefusal::Algorithm(_)), "{alg:?}");
    }
}
