//! Rules of the `management:` section: store, tokens, console, portal.

use std::time::Duration;

use super::*;
use crate::config::store::{expand_env, StoreBackend};
use crate::config::{load_str, PortalConfig};

const HASH: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn problems(yaml: &str) -> Vec<String> {
    load_str(yaml, "t")
        .unwrap_err()
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn absent_section_is_file_mode() {
    let config = load_str("apis: []", "t").unwrap();
    assert_eq!(config.management, None);
}

#[test]
fn empty_section_takes_every_default() {
    // (adminListen moves off 8083 with the management API.)
    let config = load_str(
        "gateway: { adminListen: 127.0.0.1:18082 }\napis: []\nmanagement: {}\n",
        "t",
    )
    .unwrap();
    let management = config.management.unwrap();
    assert_eq!(management.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(management.environment, "DEFAULT");
    assert_eq!(
        management.store,
        StoreConfig {
            backend: StoreBackend::Sqlite {
                path: "tidegate.db".into()
            },
            poll_interval: Duration::from_millis(1000),
        }
    );
    assert!(management.tokens.is_empty());
    assert!(management.console.enabled);
    assert_eq!(
        management.console.listen,
        DEFAULT_CONSOLE_LISTEN.parse().unwrap()
    );
}

#[test]
fn full_postgresql_section_with_env_secret() {
    std::env::set_var("TIDEGATE_TEST_MGMT_PW", "s3cret");
    let yaml = format!(
        "gateway: {{ adminListen: 127.0.0.1:18082 }}\napis: []\nmanagement:\n  listen: 0.0.0.0:9083\n  environment: prod-1\n  store:\n    type: postgresql\n    url: postgres://tg:${{TIDEGATE_TEST_MGMT_PW}}@db:5432/tg\n    pollIntervalMs: 250\n  tokens:\n    - {{ name: ci, hash: \"{HASH}\" }}\n    - {{ name: grafana, hash: \"sha256:{}\", role: viewer }}\n  console: {{ enabled: false, listen: 127.0.0.1:9084 }}\n",
        "0".repeat(64)
    );
    let management = load_str(&yaml, "t").unwrap().management.unwrap();
    assert_eq!(management.listen, "0.0.0.0:9083".parse().unwrap());
    assert_eq!(management.environment, "prod-1");
    let StoreBackend::Postgresql { url, tls } = &management.store.backend else {
        panic!("not postgresql: {:?}", management.store);
    };
    assert_eq!(url.expose(), "postgres://tg:s3cret@db:5432/tg");
    assert_eq!(tls, &None, "plain text unless sslmode=require");
    assert_eq!(management.store.poll_interval, Duration::from_millis(250));
    assert_eq!(management.tokens.len(), 2);
    assert_eq!(management.tokens[0].name, "ci");
    assert_eq!(management.tokens[0].hash.to_config_text(), HASH);
    assert_eq!(management.tokens[0].role, TokenRole::Admin, "by default");
    assert_eq!(management.tokens[1].role, TokenRole::Viewer);
    assert!(!management.console.enabled);
}

#[test]
fn unknown_keys_are_refused_with_the_allowed_ones() {
    let found = problems(
        "apis: []\nmanagement:\n  lissen: 1.2.3.4:1\n  store: { type: sqlite, file: x }\n",
    );
    assert_found(&found, &["management.lissen", "`listen`"]);
    assert_found(&found, &["management.store.file", "`path`"]);
}

#[test]
fn every_rule_is_reported_at_once() {
    let found = problems(
        "apis: []\nmanagement:\n  listen: nowhere\n  environment: 'a b'\n  store: { type: mysql, pollIntervalMs: 10 }\n  tokens:\n    - { name: ci, hash: abc }\n    - { name: CI, hash: \"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", role: root }\n",
    );
    let expect = [
        "management.listen: 'nowhere' is not an IP address",
        "management.environment: 'a b' must be",
        "management.store.type: unknown store type 'mysql'",
        "management.store.pollIntervalMs: must be between 50 and 60000 (ms), got 10",
        "management.tokens[0].hash: must be `sha256:`",
        "management.tokens[1].name: token name 'CI' is used twice",
        "management.tokens[1].role: must be `admin` or `viewer`",
    ];
    for part in expect {
        assert!(
            found.iter().any(|p| p.contains(part)),
            "{part} not in {found:?}"
        );
    }
}

#[test]
fn configured_tokens_need_an_administrators() {
    let hash = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let found = problems(&format!(
        "apis: []\nmanagement:\n  tokens:\n    - {{ name: grafana, hash: \"{hash}\", role: viewer }}\n"
    ));
    assert_found(&found, &["management.tokens", "role: admin"]);
    // The same hash twice: refused, whatever the roles.
    let found = problems(&format!(
        "apis: []\nmanagement:\n  tokens:\n    - {{ name: ops, hash: \"{hash}\" }}\n    - {{ name: grafana, hash: \"{hash}\", role: viewer }}\n"
    ));
    assert_found(&found, &["management.tokens[1].hash", "'ops'"]);
}

#[test]
fn store_keys_must_fit_the_type() {
    let found = problems("apis: []\nmanagement:\n  store: { type: postgresql, path: x.db }\n");
    assert_found(
        &found,
        &["management.store.path: `path` is for `type: sqlite`"],
    );
    assert_found(
        &found,
        &["management.store.url: a postgresql store needs `url`"],
    );
    let found = problems("apis: []\nmanagement:\n  store: { url: postgres://h/db }\n");
    assert_found(&found, &["`url` is for `type: postgresql`"]);
}

#[test]
fn a_bad_url_is_refused_without_quoting_it() {
    let found = problems(
        "apis: []\nmanagement:\n  store: { type: postgresql, url: 'mysql://u:hunter2@h/db' }\n",
    );
    assert_found(&found, &["postgres://"]);
    assert!(!found.iter().any(|p| p.contains("hunter2")), "{found:?}");
    let found = problems(
        "apis: []\nmanagement:\n  store: { type: postgresql, url: 'postgres://u:${TIDEGATE_TEST_SURELY_UNSET}@h/db' }\n",
    );
    assert_found(
        &found,
        &["the environment variable TIDEGATE_TEST_SURELY_UNSET is not set"],
    );
}

#[test]
fn listeners_must_not_take_each_others_ports() {
    let found = problems(
        "gateway: { listen: 0.0.0.0:8082, adminListen: 127.0.0.1:18082 }\napis: []\nmanagement:\n  listen: 127.0.0.1:8082\n  console: { listen: 127.0.0.1:18082 }\n",
    );
    assert!(
        found.iter().any(|p| p
            .contains("management.listen: 127.0.0.1:8082 would take the port of gateway.listen")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.contains(
            "management.console.listen: 127.0.0.1:18082 would take the port of gateway.adminListen"
        )),
        "{found:?}"
    );
    // A disabled console binds nothing.
    load_str(
        "gateway: { adminListen: 127.0.0.1:18082 }\napis: []\nmanagement:\n  console: { enabled: false, listen: 127.0.0.1:18082 }\n",
        "t",
    )
    .unwrap();
}

#[test]
fn env_expansion_rules() {
    let lookup = |name: &str| (name == "A").then(|| "x".to_owned());
    assert_eq!(expand_env("a${A}b${A}", &lookup).unwrap(), "axbx");
    assert_eq!(expand_env("plain", &lookup).unwrap(), "plain");
    assert!(expand_env("${B}", &lookup)
        .unwrap_err()
        .contains("B is not set"));
    assert!(expand_env("${A", &lookup).unwrap_err().contains("closing"));
    assert!(expand_env("${a-b}", &lookup)
        .unwrap_err()
        .contains("not an environment variable reference"));
}

#[test]
fn portal_bounds_default_and_are_checked() {
    let yaml = "gateway: { adminListen: 127.0.0.1:18082 }\napis: []\nmanagement: {}\n";
    let management = load_str(yaml, "t").unwrap().management.unwrap();
    assert_eq!(management.portal, PortalConfig::default());
    assert_eq!(management.portal.max_applications, 1000);
    assert_eq!(management.portal.writes_per_minute, 10);
    let yaml = "gateway: { adminListen: 127.0.0.1:18082 }\napis: []\nmanagement:\n  portal: { maxApplications: 5, writesPerMinute: 2 }\n";
    let management = load_str(yaml, "t").unwrap().management.unwrap();
    assert_eq!(
        management.portal,
        PortalConfig {
            max_applications: 5,
            writes_per_minute: 2
        }
    );
    let found = problems(
        "apis: []\nmanagement:\n  portal: { maxApplications: 2000000, writesPerMinute: 0 }\n",
    );
    assert_found(&found, &["management.portal.maxApplications"]);
    assert_found(&found, &["management.portal.writesPerMinute"]);
}

/// A `management:` section over PostgreSQL at `url`, with `extra` lines in the store mapping.
fn postgres_yaml(url: &str, extra: &str) -> String {
    format!("apis: []\nmanagement:\n  store:\n    type: postgresql\n    url: \"{url}\"\n{extra}")
}

fn pem_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    file
}

#[test]
fn postgres_tls_is_sslmode_require_with_an_optional_authority() {
    let ca = pem_file();
    let yaml = postgres_yaml(
        "postgres://tg:pw@db:5432/tg?sslmode=require",
        &format!("    caFile: {}\n", ca.path().display()),
    );
    let management = load_str(&yaml, "t").unwrap().management.unwrap();
    let StoreBackend::Postgresql { tls, .. } = &management.store.backend else {
        panic!("not postgresql");
    };
    assert_eq!(
        tls.as_ref().and_then(|tls| tls.ca_file.as_deref()),
        Some(ca.path())
    );
    // libpq's verifying modes are TLS with the certificate verified: tidegate's only TLS.
    for mode in ["verify-ca", "verify-full"] {
        let yaml = postgres_yaml(
            &format!("postgres://tg:pw@db/tg?application_name=x&sslmode={mode}"),
            "",
        );
        let management = load_str(&yaml, "t").unwrap().management.unwrap();
        let StoreBackend::Postgresql { url, tls } = &management.store.backend else {
            panic!("not postgresql");
        };
        assert!(tls.is_some(), "{mode}");
        assert!(
            url.expose()
                .ends_with("?application_name=x&sslmode=require"),
            "{mode}"
        );
    }
    // Without sslmode (libpq's `prefer`) and with `disable`: plain text.
    for url in [
        "postgres://tg:pw@db/tg",
        "postgres://tg:pw@db/tg?sslmode=disable",
    ] {
        let management = load_str(&postgres_yaml(url, ""), "t")
            .unwrap()
            .management
            .unwrap();
        let StoreBackend::Postgresql { tls, .. } = &management.store.backend else {
            panic!("not postgresql");
        };
        assert_eq!(tls, &None, "{url}");
    }
}

#[test]
fn postgres_tls_mistakes_are_named_without_quoting_the_password() {
    let ca = pem_file();
    let found = problems(&postgres_yaml(
        "postgres://tg:s3cret@db/tg",
        &format!("    caFile: {}\n", ca.path().display()),
    ));
    assert_found(&found, &["management.store.caFile", "sslmode=require"]);
    let found = problems(&postgres_yaml(
        "postgres://tg:s3cret@db/tg?sslmode=require",
        "    caFile: /nonexistent/ca.pem\n",
    ));
    assert_found(&found, &["management.store.caFile", "cannot read"]);
    let found = problems(&postgres_yaml(
        "postgres://tg:s3cret@db/tg?sslmode=require&sslrootcert=/x.pem",
        "",
    ));
    assert_found(&found, &["caFile"]);
    for url in [
        "postgres://tg:s3cret@db:notaport/tg",
        "postgres://tg:s3cret@db/tg?sslmode=sometimes",
        "postgres://tg:s3cret@db/tg?nosuchoption=1",
    ] {
        let found = problems(&postgres_yaml(url, ""));
        assert!(
            found.iter().any(|p| p.contains("management.store.url")),
            "{url}: {found:?}"
        );
        assert!(found.iter().all(|p| !p.contains("s3cret")), "{found:?}");
    }
    for option in ["sslcert=/c.pem", "sslkey=/c.key"] {
        let found = problems(&postgres_yaml(
            &format!("postgres://tg:s3cret@db/tg?sslmode=require&{option}"),
            "",
        ));
        assert!(
            found.iter().any(|p| p.contains("management.store.certFile")
                || p.contains("management.store.keyFile")),
            "{option}: {found:?}"
        );
    }
    // A certificate without its key, files that cannot be read.
    let found = problems(&postgres_yaml(
        "postgres://tg:s3cret@db/tg?sslmode=require",
        "    certFile: /nonexistent/client.pem\n",
    ));
    assert!(
        found
            .iter()
            .any(|p| p.contains("management.store.keyFile")
                && p.contains("required with `certFile`")),
        "{found:?}"
    );
    let found = problems(&postgres_yaml(
        "postgres://tg:s3cret@db/tg?sslmode=require",
        "    certFile: /nonexistent/client.pem\n    keyFile: /nonexistent/client.key\n",
    ));
    assert_found(&found, &["management.store.certFile", "cannot read"]);
    let found = problems("apis: []\nmanagement:\n  store:\n    type: sqlite\n    caFile: /x.pem\n");
    assert_found(&found, &["management.store.caFile", "postgresql"]);
}

/// Fails unless one of `found` contains every one of `parts`.
fn assert_found(found: &[String], parts: &[&str]) {
    assert!(
        found
            .iter()
            .any(|problem| parts.iter().all(|part| problem.contains(part))),
        "no problem with {parts:?} in {found:?}"
    );
}
