//! The PostgreSQL store over TLS against a real server that accepts TLS connections only
//! (`hostssl`), with a certificate from a test authority: with that authority as `caFile` the
//! whole store conformance suite passes over TLS; trusting only the Mozilla roots, or another
//! authority, the connection is refused for its certificate; without TLS the server refuses it,
//! and the error says why. A server that also asks for a client certificate gets the one of
//! `certFile`/`keyFile`, and refuses a connection without one, or with one another authority
//! signed.

mod common;

use tidegate::config::{self, PostgresTls, StoreBackend};
use tidegate::manage::store::{PostgresStore, StoreError};

use common::postgres::Postgres;
use common::store_conformance::conformance;
use common::test_ca::TestCa;

fn refusal(result: Result<PostgresStore, StoreError>) -> String {
    match result {
        Ok(_) => panic!("the connection was accepted"),
        Err(StoreError::Unavailable(text)) => text,
        Err(other) => panic!("not an unavailable store: {other:?}"),
    }
}

#[test]
fn the_store_works_over_tls_and_verifies_the_database_certificate() {
    let authority = TestCa::new();
    let postgres = Postgres::start_tls(&authority);
    let url = format!("{}?sslmode=require", postgres.url());
    let trusted = PostgresTls {
        ca_file: Some(authority.ca_file.clone()),
        client_identity: None,
    };
    conformance(&PostgresStore::connect(&url, Some(&trusted)).expect("TLS with the authority"));

    // The Mozilla roots do not know the test authority.
    let roots_only = refusal(PostgresStore::connect(
        &url,
        Some(&PostgresTls {
            ca_file: None,
            client_identity: None,
        }),
    ));
    assert!(roots_only.contains("certificate"), "{roots_only}");
    // Nor does another authority.
    let other = TestCa::new();
    let wrong = PostgresTls {
        ca_file: Some(other.ca_file.clone()),
        client_identity: None,
    };
    let wrong_ca = refusal(PostgresStore::connect(&url, Some(&wrong)));
    assert!(wrong_ca.contains("certificate"), "{wrong_ca}");

    // In plain text the server itself refuses, and says so.
    let plain = refusal(PostgresStore::connect(&postgres.url(), None));
    assert!(
        plain.contains("pg_hba.conf") && plain.contains("no encryption"),
        "{plain}"
    );
}

/// The TLS settings of a `management.store` with `url` and the YAML keys `files`, as the
/// configuration loader reads them (the client certificate and key checked to match).
fn store_tls(url: &str, files: &[(&str, &std::path::Path)]) -> PostgresTls {
    let mut yaml =
        format!("apis: []\nmanagement:\n  store:\n    type: postgresql\n    url: \"{url}\"\n");
    for (key, path) in files {
        yaml.push_str(&format!("    {key}: {}\n", path.display()));
    }
    let management = config::load_str(&yaml, "t").unwrap().management.unwrap();
    match management.store.backend {
        StoreBackend::Postgresql { tls: Some(tls), .. } => tls,
        other => panic!("not a TLS PostgreSQL store: {other:?}"),
    }
}

#[test]
fn the_store_presents_its_client_certificate_when_the_database_asks() {
    let authority = TestCa::new();
    let postgres = Postgres::start_tls_with_client_certs(&authority);
    let url = format!("{}?sslmode=require", postgres.url());
    let (cert, key) = authority.issue(&["tidegate"], "tidegate-client");
    let with_cert = store_tls(
        &url,
        &[
            ("caFile", &authority.ca_file),
            ("certFile", &cert),
            ("keyFile", &key),
        ],
    );
    assert!(with_cert.client_identity.is_some());
    conformance(
        &PostgresStore::connect(&url, Some(&with_cert)).expect("TLS with a client certificate"),
    );

    // Without one, the server refuses the connection and the error says so.
    let without = store_tls(&url, &[("caFile", &authority.ca_file)]);
    let refused = refusal(PostgresStore::connect(&url, Some(&without)));
    assert!(refused.contains("certificate"), "{refused}");
    // One from another authority is refused too.
    let other = TestCa::new();
    let (cert, key) = other.issue(&["tidegate"], "stranger");
    let stranger = store_tls(
        &url,
        &[
            ("caFile", &authority.ca_file),
            ("certFile", &cert),
            ("keyFile", &key),
        ],
    );
    let refused = refusal(PostgresStore::connect(&url, Some(&stranger)));
    assert!(refused.contains("management.store.certFile"), "{refused}");
}
