//! The PostgreSQL store over TLS against a real server that accepts TLS connections only
//! (`hostssl`), with a certificate from a test authority: with that authority as `caFile` the
//! whole store conformance suite passes over TLS; trusting only the Mozilla roots, or another
//! authority, the connection is refused for its certificate; without TLS the server refuses it,
//! and the error says why.

mod common;

use tidegate::config::PostgresTls;
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
    };
    conformance(&PostgresStore::connect(&url, Some(&trusted)).expect("TLS with the authority"));

    // The Mozilla roots do not know the test authority.
    let roots_only = refusal(PostgresStore::connect(
        &url,
        Some(&PostgresTls { ca_file: None }),
    ));
    assert!(roots_only.contains("certificate"), "{roots_only}");
    // Nor does another authority.
    let other = TestCa::new();
    let wrong = PostgresTls {
        ca_file: Some(other.ca_file.clone()),
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
