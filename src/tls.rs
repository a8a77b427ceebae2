//! TLS for maia's own connections (PostgreSQL, an https Ollama): rustls with ring, the
//! system's roots (or `SSL_CERT_FILE`) plus any the configuration adds.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// A client configuration trusting the system's roots and `extra`.
pub fn client_config(extra: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate is skipped, not fatal.
        let _ = roots.add(cert);
    }
    for cert in extra {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
