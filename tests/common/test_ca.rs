//! A certificate authority for one test (rcgen): its PEM file for a client's `caFile`, and
//! certificates it signs for a test server (MQTT broker, PostgreSQL) or client, as files in the
//! authority's own temp dir (kept for the test's life).

use std::path::PathBuf;

/// The authority: `ca_file` holds its certificate.
pub struct TestCa {
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tidegate test CA");
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        TestCa {
            dir,
            ca_file,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (host names or IP addresses) signed by this authority, written
    /// as `<stem>.pem` and `<stem>.key`: (certificate file, key file).
    pub fn issue(&self, names: &[&str], stem: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let files = (
            self.dir.join(format!("{stem}.pem")),
            self.dir.join(format!("{stem}.key")),
        );
        std::fs::write(&files.0, cert.pem()).unwrap();
        std::fs::write(&files.1, key.serialize_pem()).unwrap();
        files
    }
}
