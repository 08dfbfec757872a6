//! Kafka `security`: `protocol` (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL), `sasl` (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512) and `ssl` (a PEM `trustStore` and an optional PEM `keyStore`, the
//! client certificate). Files are read and checked when the configuration loads; PKCS12 and JKS
//! stores are refused with how to convert them to PEM.

use super::raw::{RawKeyStore, RawSasl, RawSecurity, RawTrustStore};
use crate::config::problem::{join, Problems};
use crate::config::tls_identity::{client_identity, ClientIdentity, PemSource};
use crate::config::Secret;

/// How the gateway talks to the brokers: `PLAINTEXT` is neither, `SASL_SSL` both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KafkaSecurity {
    /// SASL authentication (`SASL_PLAINTEXT`, `SASL_SSL`).
    pub sasl: Option<KafkaSasl>,
    /// TLS (`SSL`, `SASL_SSL`): the PEM certificates of the authorities the brokers' certificates
    /// must chain to (read when the configuration is loaded).
    pub tls_trust_pem: Option<String>,
    /// TLS client certificate (`ssl.keyStore`), for brokers that require one.
    pub tls_identity: Option<ClientIdentity>,
}

/// SASL mechanism and credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaSasl {
    /// `security.sasl.mechanism`: how the credentials are proven to the broker.
    pub mechanism: SaslMechanism,
    /// `security.sasl.username`: the principal the gateway authenticates as.
    pub username: String,
    /// `security.sasl.password`: that principal's password (kept out of logs and `Debug`).
    pub password: Secret,
}

/// `security.sasl.mechanism`: the SASL mechanisms the bridge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`: the password itself is sent (use it over `SASL_SSL` only).
    Plain,
    /// `SCRAM-SHA-256`: challenge-response; the password never crosses the wire.
    ScramSha256,
    /// `SCRAM-SHA-512`: as `SCRAM-SHA-256`, with SHA-512.
    ScramSha512,
}

pub(super) fn security(raw: RawSecurity, loc: &str, p: &mut Problems) -> KafkaSecurity {
    let protocol = raw.protocol.to_ascii_uppercase();
    let (wants_sasl, wants_tls) = match protocol.as_str() {
        "PLAINTEXT" => (false, false),
        "SASL_PLAINTEXT" => (true, false),
        "SSL" => (false, true),
        "SASL_SSL" => (true, true),
        other => {
            p.push(
                join(loc, "protocol"),
                format!("unknown protocol '{other}'; expected PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL"),
            );
            (raw.sasl.is_some(), raw.ssl.is_some())
        }
    };
    let sasl = match (wants_sasl, raw.sasl) {
        (true, Some(sasl)) => Some(sasl_options(sasl, &join(loc, "sasl"), p)),
        (true, None) => {
            p.push(
                join(loc, "sasl"),
                format!("required with {protocol}: `{{ mechanism, username, password }}`"),
            );
            None
        }
        (false, Some(_)) => {
            p.push(
                join(loc, "sasl"),
                format!("ignored with {protocol}: set `protocol: SASL_PLAINTEXT` or `SASL_SSL` to authenticate with SASL"),
            );
            None
        }
        (false, None) => None,
    };
    let (tls_trust_pem, tls_identity) = match (wants_tls, raw.ssl) {
        (true, Some(ssl)) => (
            trust_store(ssl.trust_store, &join(loc, "ssl.trustStore"), p),
            ssl.key_store
                .and_then(|store| key_store(store, &join(loc, "ssl.keyStore"), p)),
        ),
        (true, None) => {
            p.push(
                join(loc, "ssl"),
                format!("required with {protocol}: `{{ trustStore: {{ type: PEM, path: FILE }} }}` (e.g. /etc/ssl/certs/ca-certificates.crt for public authorities)"),
            );
            (None, None)
        }
        (false, Some(_)) => {
            p.push(
                join(loc, "ssl"),
                format!("ignored with {protocol}: set `protocol: SSL` or `SASL_SSL` to use TLS"),
            );
            (None, None)
        }
        (false, None) => (None, None),
    };
    KafkaSecurity {
        sasl,
        tls_trust_pem,
        tls_identity,
    }
}

fn sasl_options(sasl: RawSasl, loc: &str, p: &mut Problems) -> KafkaSasl {
    let mechanism = match sasl.mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => SaslMechanism::Plain,
        "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        other => {
            p.push(
                join(loc, "mechanism"),
                format!("unknown SASL mechanism '{other}'; expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            );
            SaslMechanism::Plain
        }
    };
    KafkaSasl {
        mechanism,
        username: sasl.username,
        password: sasl.password,
    }
}

/// The trust store's PEM text, checked to hold at least one certificate.
fn trust_store(raw: RawTrustStore, loc: &str, p: &mut Problems) -> Option<String> {
    if !raw.kind.eq_ignore_ascii_case("PEM") {
        p.push(
            join(loc, "type"),
            format!("trust store type '{}' is not supported by this version of tidegate (supported: PEM)", raw.kind),
        );
        return None;
    }
    let text = match (raw.path, raw.content) {
        (Some(path), None) => match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                p.push(join(loc, "path"), format!("cannot read '{path}': {error}"));
                return None;
            }
        },
        (None, Some(content)) => content,
        _ => {
            p.push(loc, "give exactly one of `path` and `content`");
            return None;
        }
    };
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        p.push(
            loc,
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
        );
        return None;
    }
    Some(text)
}

/// The key store's certificate chain and private key (`type: PEM` only).
fn key_store(raw: RawKeyStore, loc: &str, p: &mut Problems) -> Option<ClientIdentity> {
    let kind = raw.kind.to_ascii_uppercase();
    if kind == "PKCS12" || kind == "JKS" {
        p.push(
            join(loc, "type"),
            format!(
                "{kind} key stores are not supported by this version of tidegate: convert the store to PEM files, e.g. \
                 `openssl pkcs12 -in keystore.p12 -nokeys -out client.crt` and \
                 `openssl pkcs12 -in keystore.p12 -nodes -nocerts -out client.key` \
                 (a JKS store first: `keytool -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 -deststoretype PKCS12`), \
                 then write `keyStore: {{ type: PEM, certPath: client.crt, keyPath: client.key }}`"
            ),
        );
        return None;
    }
    if kind != "PEM" {
        p.push(
            join(loc, "type"),
            format!("unknown key store type '{}'; expected PEM", raw.kind),
        );
        return None;
    }
    for (key, given) in [
        ("path", raw.path.is_some()),
        ("content", raw.content.is_some()),
        ("password", raw.password.is_some()),
    ] {
        if given {
            p.push(
                join(loc, key),
                "not used with `type: PEM`: give the certificate as `certPath` or `certContent` and its unencrypted key as `keyPath` or `keyContent`",
            );
        }
    }
    let cert = pem_half(raw.cert_path, raw.cert_content, "cert", loc, p);
    let key = pem_half(
        raw.key_path,
        raw.key_content.map(|key| key.expose().to_owned()),
        "key",
        loc,
        p,
    );
    let ((cert, cert_loc), (key, key_loc)) = (cert?, key?);
    client_identity((cert, &cert_loc), (key, &key_loc), loc, p)
}

/// `{half}Path` or `{half}Content` (exactly one), and the key it was given under.
fn pem_half(
    path: Option<String>,
    content: Option<String>,
    half: &str,
    loc: &str,
    p: &mut Problems,
) -> Option<(PemSource, String)> {
    let (path_key, content_key) = (format!("{half}Path"), format!("{half}Content"));
    match (path, content) {
        (Some(path), None) => Some((PemSource::File(path), join(loc, &path_key))),
        (None, Some(content)) => Some((PemSource::Content(content), join(loc, &content_key))),
        (Some(_), Some(_)) => {
            p.push(
                loc,
                format!("give either `{path_key}` or `{content_key}`, not both"),
            );
            None
        }
        (None, None) => {
            let what = if half == "cert" {
                "the client certificate (chain)"
            } else {
                "its private key"
            };
            p.push(
                join(loc, &path_key),
                format!("required: the PEM file of {what} (or `{content_key}` with the PEM text)"),
            );
            None
        }
    }
}
