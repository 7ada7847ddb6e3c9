//! Pooled keep-alive HTTP clients towards upstream targets.

use std::sync::Arc;
use std::time::Duration;

use gatectl_spec::model::{Upstream, UpstreamScheme};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use crate::proxy::body::ProxyBody;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// Errors while building an upstream's client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("upstream `{upstream}`: cannot read CA file {path}: {source}; check upstreams[].tls.ca")]
    CaFile { upstream: String, path: String, source: std::io::Error },
    #[error("upstream `{upstream}`: CA file {path} contains no usable PEM certificate")]
    CaEmpty { upstream: String, path: String },
    #[error("upstream `{upstream}`: tls.sni `{sni}` is not a valid server name")]
    Sni { upstream: String, sni: String },
    #[error("upstream `{upstream}`: cannot load the system's root certificates: {source}")]
    NativeRoots { upstream: String, source: std::io::Error },
}

/// Builds the client for one upstream with the given connect timeout.
pub fn build_client(upstream: &Upstream, connect_timeout: Duration) -> Result<HttpClient, ClientError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);

    let tls = tls_config(upstream)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let builder = match &upstream.tls.sni {
        Some(sni) => {
            let name =
                ServerName::try_from(sni.clone()).map_err(|_| ClientError::Sni { upstream: upstream.name.clone(), sni: sni.clone() })?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    let connector = builder.enable_http1().enable_http2().wrap_connector(http);

    let mut client = Client::builder(TokioExecutor::new());
    client.timer(TokioTimer::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(Duration::from_secs(90));
    if upstream.scheme == UpstreamScheme::H2c {
        client.http2_only(true);
    }
    Ok(client.build(connector))
}

fn tls_config(upstream: &Upstream) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions");
    // ALPN is left empty here because the connector builder sets it from enable_http1/2.
    let config = if !upstream.tls.verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider))).with_no_client_auth()
    } else {
        builder.with_root_certificates(root_store(upstream)?).with_no_client_auth()
    };
    Ok(config)
}

fn root_store(upstream: &Upstream) -> Result<rustls::RootCertStore, ClientError> {
    let mut store = rustls::RootCertStore::empty();
    match &upstream.tls.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                upstream: upstream.name.clone(),
                path: path.clone(),
                source,
            })?;
            let mut reader = pem.as_slice();
            let certificates: Vec<_> = rustls_pemfile::certs(&mut reader).filter_map(Result::ok).collect();
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(ClientError::CaEmpty { upstream: upstream.name.clone(), path: path.clone() });
            }
        }
        None if upstream.scheme == UpstreamScheme::Https => {
            let native = rustls_native_certs::load_native_certs();
            if native.certs.is_empty()
                && let Some(error) = native.errors.into_iter().next()
            {
                let source = std::io::Error::other(error.to_string());
                return Err(ClientError::NativeRoots { upstream: upstream.name.clone(), source });
            }
            store.add_parsable_certificates(native.certs);
        }
        None => {}
    }
    Ok(store)
}

/// Accepts any server certificate, for upstreams with `tls.verify: false`. Signatures are still
/// checked, so the handshake proves possession of the presented key.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
