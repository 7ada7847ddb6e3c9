//! TLS termination: certificates from `settings.listeners[].tls`, picked by SNI.

use std::collections::HashMap;
use std::sync::Arc;

use gatectl_spec::model::ListenerTls;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Errors while loading a listener's certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("listener `{listener}`: cannot read certificate {path}: {source}")]
    Certificate { listener: String, path: String, source: std::io::Error },
    #[error("listener `{listener}`: certificate file {path} contains no PEM certificate")]
    NoCertificate { listener: String, path: String },
    #[error("listener `{listener}`: cannot read the private key for {path}: {source}")]
    Key { listener: String, path: String, source: std::io::Error },
    #[error("listener `{listener}`: the private key for {path} is not a PEM PKCS#8, PKCS#1 or SEC1 key: {message}")]
    InvalidKey { listener: String, path: String, message: String },
    #[error("listener `{listener}` uses https but has no tls.certificates; add at least one certificate")]
    Missing { listener: String },
}

/// Builds the rustls server configuration (ring provider, ALPN `h2` then `http/1.1`).
pub fn server_config(listener: &str, tls: Option<&ListenerTls>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let tls = tls.filter(|tls| !tls.certificates.is_empty()).ok_or_else(|| TlsError::Missing { listener: listener.to_owned() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut resolver = SniResolver::default();
    for certificate in &tls.certificates {
        let key = load_certified_key(listener, certificate, &provider)?;
        resolver.add(&certificate.hosts, key);
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_certified_key(
    listener: &str,
    certificate: &gatectl_spec::model::Certificate,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let path = certificate.certificate.clone();
    let pem = std::fs::read(&path).map_err(|source| TlsError::Certificate { listener: listener.to_owned(), path: path.clone(), source })?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { listener: listener.to_owned(), path });
    }
    let key_pem =
        certificate.key.resolve().map_err(|source| TlsError::Key { listener: listener.to_owned(), path: path.clone(), source })?;
    let invalid = |message: String| TlsError::InvalidKey { listener: listener.to_owned(), path: path.clone(), message };
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|error| invalid(error.to_string()))?
        .ok_or_else(|| invalid("no key found".to_owned()))?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|error| invalid(error.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

/// Picks a certificate by SNI: exact name, then `*.` wildcard, then the first certificate.
#[derive(Debug, Default)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn add(&mut self, hosts: &[String], key: Arc<CertifiedKey>) {
        for host in hosts {
            let host = host.to_ascii_lowercase();
            match host.strip_prefix("*.") {
                Some(suffix) => self.wildcard.entry(suffix.to_owned()).or_insert_with(|| key.clone()),
                None => self.exact.entry(host).or_insert_with(|| key.clone()),
            };
        }
        self.default.get_or_insert(key);
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(key) = self.exact.get(&name) {
                return Some(key.clone());
            }
            if let Some((_, suffix)) = name.split_once('.')
                && let Some(key) = self.wildcard.get(suffix)
            {
                return Some(key.clone());
            }
        }
        self.default.clone()
    }
}
