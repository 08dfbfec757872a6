//! TLS to the broker, driven sans-IO: rustls turns ciphertext read from the socket into plaintext
//! for the MQTT codec, and plaintext packets into ciphertext for the socket. No extra task, no
//! blocking, and the same split reader/writer as plain TCP.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use crate::config::MqttTlsOptions;
use crate::tls::client_trust;

/// Builds the TLS settings of one endpoint: trust `caFile` (or the Mozilla roots), or nothing at
/// all with `insecureSkipVerify`; present `certFile`/`keyFile` when the broker asks for a client
/// certificate.
pub fn client_config(options: &MqttTlsOptions) -> Result<Arc<ClientConfig>, String> {
    let builder = if options.insecure_skip_verify {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        client_trust::client_builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        client_trust::verifying_builder(options.ca_file.as_deref())?
    };
    let config = client_trust::presenting(builder, options.client_identity.as_ref())?;
    Ok(Arc::new(config))
}

/// One connection's TLS state, shared (on the shard) by its reader and writer.
pub struct TlsSession {
    connection: ClientConnection,
}

impl TlsSession {
    /// Starts a handshake with `server_host` (the name its certificate must carry).
    pub fn new(config: Arc<ClientConfig>, server_host: &str) -> Result<TlsSession, String> {
        let name = ServerName::try_from(server_host.to_owned()).map_err(|err| {
            format!("'{server_host}' cannot be checked against a certificate: {err}")
        })?;
        let connection = ClientConnection::new(config, name)
            .map_err(|err| format!("TLS setup failed: {err}"))?;
        Ok(TlsSession { connection })
    }

    /// Takes the ciphertext in `cipher` and appends the plaintext it yields to `plain`.
    pub fn decrypt(&mut self, cipher: &mut BytesMut, plain: &mut BytesMut) -> Result<(), String> {
        let mut input: &[u8] = cipher;
        while !input.is_empty() {
            self.connection
                .read_tls(&mut input)
                .map_err(|err| format!("TLS read failed: {err}"))?;
            let state = self
                .connection
                .process_new_packets()
                .map_err(|err| format!("TLS error from the broker: {err}"))?;
            let mut available = state.plaintext_bytes_to_read();
            while available > 0 {
                let start = plain.len();
                plain.resize(start + available, 0);
                let n = self
                    .connection
                    .reader()
                    .read(&mut plain[start..])
                    .map_err(|err| format!("TLS read failed: {err}"))?;
                plain.truncate(start + n);
                available -= n.min(available);
                if n == 0 {
                    break;
                }
            }
        }
        cipher.clear();
        Ok(())
    }

    /// Queues plaintext to send (rustls holds it until the handshake is done).
    pub fn encrypt(&mut self, plain: &[u8]) -> Result<(), String> {
        self.connection
            .writer()
            .write_all(plain)
            .map_err(|err| format!("TLS write failed: {err}"))
    }

    /// Appends the ciphertext waiting to go out (handshake records and encrypted packets).
    pub fn outgoing(&mut self, out: &mut BytesMut) -> Result<(), String> {
        let mut writer = (&mut *out).writer();
        while self.connection.wants_write() {
            self.connection
                .write_tls(&mut writer)
                .map_err(|err| format!("TLS write failed: {err}"))?;
        }
        Ok(())
    }

    /// True until the handshake is complete (a connection lost before then failed at TLS).
    pub fn is_handshaking(&self) -> bool {
        self.connection.is_handshaking()
    }

    /// True when ciphertext is waiting to go out.
    pub fn wants_write(&self) -> bool {
        self.connection.wants_write()
    }
}

/// `insecureSkipVerify`: accepts any certificate but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
