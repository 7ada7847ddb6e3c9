//! TLS and mutual TLS on the admin listener: the server certificate from `--admin-tls-cert` and
//! `--admin-tls-key`, and, with `--admin-client-ca`, a required client certificate issued by that
//! CA. The bearer token stays required on top of a client certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{InconsistentKeys, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Time a client gets to finish the TLS handshake before the admin listener closes the
/// connection, so that a client that sends nothing cannot hold a task.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// PEM files of the admin listener's TLS.
#[derive(Debug, Clone)]
pub struct AdminTlsOptions {
    /// Certificate chain of the admin listener, leaf first (`--admin-tls-cert`).
    pub certificate: PathBuf,
    /// Private key of the leaf certificate, PKCS#8, PKCS#1 or SEC1 (`--admin-tls-key`).
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to (`--admin-client-ca`). Without
    /// them clients need no certificate.
    pub client_ca: Option<PathBuf>,
    /// Time a client gets to finish the TLS handshake.
    pub handshake_timeout: Duration,
}

impl AdminTlsOptions {
    /// Returns options for a certificate and key without client authentication.
    pub fn new(certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self { certificate: certificate.into(), key: key.into(), client_ca: None, handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT }
    }
}

/// Errors while loading the admin listener's certificates. Each message names the flag and file.
#[derive(Debug, thiserror::Error)]
pub enum AdminTlsError {
    #[error("{flag} {}: cannot read the file: {source}; check the path and its permissions", path.display())]
    Read { flag: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{flag} {}: the file is not valid PEM: {message}; pass a PEM file (-----BEGIN CERTIFICATE-----)", path.display())]
    InvalidPem { flag: &'static str, path: PathBuf, message: String },
    #[error("{flag} {}: the file contains no PEM certificate; pass a file with -----BEGIN CERTIFICATE----- blocks", path.display())]
    NoCertificate { flag: &'static str, path: PathBuf },
    #[error(
        "--admin-tls-key {}: the file contains no PEM private key; pass the PKCS#8, PKCS#1 or SEC1 key of the --admin-tls-cert certificate",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("--admin-tls-key {}: the private key cannot be used: {message}; pass an RSA, ECDSA or Ed25519 key", path.display())]
    InvalidKey { path: PathBuf, message: String },
    #[error(
        "--admin-tls-key {} does not match the certificate in --admin-tls-cert {}; pass the key the certificate was issued for",
        key.display(),
        certificate.display()
    )]
    KeyMismatch { certificate: PathBuf, key: PathBuf },
    #[error("--admin-client-ca {}: the certificate cannot be used as a trust anchor: {message}; pass the CA certificate that issues client certificates", path.display())]
    InvalidClientCa { path: PathBuf, message: String },
}

/// Builds the rustls server configuration of the admin listener (ring provider, TLS 1.2 and 1.3,
/// ALPN `h2` then `http/1.1`). With a client CA every client must present a certificate that
/// chains to it, or the handshake fails.
pub fn server_config(options: &AdminTlsOptions) -> Result<Arc<rustls::ServerConfig>, AdminTlsError> {
    let chain = read_certificates("--admin-tls-cert", &options.certificate)?;
    let key = read_key(&options.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions");

    let builder = match &options.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let roots = read_client_roots(path)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| AdminTlsError::InvalidClientCa { path: path.clone(), message: error.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };

    let mut config = builder.with_single_cert(chain, key).map_err(|error| match error {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            AdminTlsError::KeyMismatch { certificate: options.certificate.clone(), key: options.key.clone() }
        }
        other => AdminTlsError::InvalidKey { path: options.key.clone(), message: other.to_string() },
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, AdminTlsError> {
    std::fs::read(path).map_err(|source| AdminTlsError::Read { flag, path: path.to_path_buf(), source })
}

fn read_certificates(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, AdminTlsError> {
    let pem = read_file(flag, path)?;
    let chain = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(|error| AdminTlsError::InvalidPem {
        flag,
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    if chain.is_empty() {
        return Err(AdminTlsError::NoCertificate { flag, path: path.to_path_buf() });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, AdminTlsError> {
    let pem = read_file("--admin-tls-key", path)?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice()).map_err(|error| AdminTlsError::InvalidPem {
        flag: "--admin-tls-key",
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    key.ok_or_else(|| AdminTlsError::NoKey { path: path.to_path_buf() })
}

fn read_client_roots(path: &Path) -> Result<RootCertStore, AdminTlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates("--admin-client-ca", path)? {
        roots.add(certificate).map_err(|error| AdminTlsError::InvalidClientCa { path: path.to_path_buf(), message: error.to_string() })?;
    }
    Ok(roots)
}

/// The admin listener's TLS acceptor with its handshake timeout.
#[derive(Clone)]
pub struct AdminTlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for AdminTlsAcceptor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AdminTlsAcceptor").field("handshake_timeout", &self.handshake_timeout).finish_non_exhaustive()
    }
}

impl AdminTlsAcceptor {
    /// Reads the certificate, key and client CA files and builds the acceptor.
    pub fn load(options: &AdminTlsOptions) -> Result<Self, AdminTlsError> {
        let config = server_config(options)?;
        Ok(Self { acceptor: tokio_rustls::TlsAcceptor::from(config), handshake_timeout: options.handshake_timeout })
    }

    /// Runs the TLS handshake on `stream`. Returns `None` and logs at debug level when the
    /// handshake fails (for example a missing or untrusted client certificate) or times out.
    pub async fn accept(&self, stream: TcpStream, peer: SocketAddr) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(%error, client.addr = %peer, "admin TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(client.addr = %peer, timeout = ?self.handshake_timeout, "admin TLS handshake timed out");
                None
            }
        }
    }
}
