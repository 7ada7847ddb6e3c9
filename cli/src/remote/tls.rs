//! TLS towards runtimes whose admin listener runs with `--admin-tls-cert`: the CA that the
//! runtimes' certificates must chain to, the client certificate for runtimes that require one,
//! and error messages that name which side rejected which certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, InconsistentKeys, RootCertStore};

/// Environment variable read when `--admin-ca` is absent.
pub const ADMIN_CA_ENV: &str = "GATECTL_ADMIN_CA";
/// Environment variable read when `--admin-client-cert` is absent.
pub const ADMIN_CLIENT_CERT_ENV: &str = "GATECTL_ADMIN_CLIENT_CERT";
/// Environment variable read when `--admin-client-key` is absent.
pub const ADMIN_CLIENT_KEY_ENV: &str = "GATECTL_ADMIN_CLIENT_KEY";

/// PEM files of the TLS settings, as given on the command line or in the environment.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// Checks whether any TLS setting is given, so the default client settings do not apply.
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client_certificate.is_some() || self.client_key.is_some()
    }

    /// Builds the rustls client configuration: trusts the `--admin-ca` certificates, or the
    /// system's root certificates without it, and presents the client certificate when given.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let roots = match &self.ca {
            Some(path) => read_roots(path)?,
            None => system_roots(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("cannot set up TLS: {error}"))?
            .with_root_certificates(roots);

        match (&self.client_certificate, &self.client_key) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(certificate), Some(key)) => {
                let chain = read_certificates("--admin-client-cert", certificate)?;
                let key_der = read_key(key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|error| match error {
                    rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
                        "--admin-client-key {} does not match the certificate in --admin-client-cert {}; pass the key the certificate was issued for",
                        key.display(),
                        certificate.display()
                    ),
                    other => format!("--admin-client-key {}: the private key cannot be used: {other}", key.display()),
                })
            }
            (Some(certificate), None) => Err(format!(
                "--admin-client-cert {} needs its private key; pass --admin-client-key or set {ADMIN_CLIENT_KEY_ENV}",
                certificate.display()
            )),
            (None, Some(key)) => Err(format!(
                "--admin-client-key {} needs its certificate; pass --admin-client-cert or set {ADMIN_CLIENT_CERT_ENV}",
                key.display()
            )),
        }
    }

    /// Explains a failed admin request when its cause is TLS: which certificate was rejected or
    /// missing, and what to pass. Returns `None` when the cause is not a TLS error.
    pub fn explain(&self, error: &(dyn std::error::Error + 'static)) -> Option<String> {
        let tls_error = find_tls_error(error)?;
        let client_certificate = self.client_certificate.as_deref().map(|path| path.display().to_string());
        let message = match (tls_error, client_certificate) {
            (rustls::Error::InvalidCertificate(_), _) => format!(
                "the runtime's TLS certificate was rejected ({tls_error}); pass the CA that issued it with --admin-ca or {ADMIN_CA_ENV}"
            ),
            (rustls::Error::AlertReceived(AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure), None) => format!(
                "the runtime requires a client certificate and none was sent; pass --admin-client-cert and --admin-client-key (or set {ADMIN_CLIENT_CERT_ENV} and {ADMIN_CLIENT_KEY_ENV})"
            ),
            (rustls::Error::AlertReceived(alert), Some(path)) if is_certificate_alert(*alert) => format!(
                "the runtime rejected the client certificate {path} ({alert:?}); use a certificate issued by the CA the runtime trusts with --admin-client-ca"
            ),
            (rustls::Error::InvalidMessage(_), _) => {
                format!("the TLS handshake failed ({tls_error}); the admin listener may serve plain HTTP, so try an http:// target")
            }
            (other, _) => format!("the TLS handshake failed: {other}"),
        };
        Some(message)
    }
}

fn is_certificate_alert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::DecryptError
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure
    )
}

/// Finds the rustls error in an error's chain. reqwest and hyper wrap it in an `io::Error`, whose
/// `source` skips the wrapped error, so each `io::Error` is opened with `get_ref`.
fn find_tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls_error) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls_error);
        }
        if let Some(inner) = cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
            && let Some(tls_error) = find_tls_error(inner)
        {
            return Some(tls_error);
        }
        current = cause.source();
    }
    None
}

fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{flag} {}: cannot read the file: {error}", path.display()))
}

fn read_certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(flag, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{flag} {}: the file is not valid PEM: {error}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{flag} {}: the file contains no PEM certificate; pass a file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file("--admin-client-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "--admin-client-key {}: the file contains no PEM private key; pass the PKCS#8, PKCS#1 or SEC1 key of --admin-client-cert",
            path.display()
        ),
        other => format!("--admin-client-key {}: the file is not valid PEM: {other}", path.display()),
    })
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates("--admin-ca", path)? {
        roots
            .add(certificate)
            .map_err(|error| format!("--admin-ca {}: the certificate cannot be used as a trust anchor: {error}", path.display()))?;
    }
    Ok(roots)
}

/// Loads the system's root certificates. Unreadable ones are skipped, as reqwest does, so that
/// a target with a publicly trusted certificate still works.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(loaded.certs);
    roots
}
