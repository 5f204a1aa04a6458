//! TLS for the outputs that use it (https, syslog+tls): rustls (ring provider) trusting the CA
//! certificates of `--ca-file`, else the system's bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer},
    ClientConfig, RootCertStore,
};

use super::SinkError;

/// Where distributions keep their CA bundle; `SSL_CERT_FILE` comes first.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, BSDs
];

/// The roots in a PEM bundle; an error when it holds none.
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate is not usable as a trust anchor: {e}"))?;
    }
    if roots.is_empty() {
        return Err("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(roots)
}

fn bundle(ca_file: Option<&Path>) -> Result<PathBuf, SinkError> {
    if let Some(f) = ca_file {
        return Ok(f.to_owned());
    }
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SinkError::Usage(format!(
                "TLS outputs (https, syslog+tls) need CA certificates to check the receiver, and none were found at {}: pass --ca-file FILE (PEM) or install the ca-certificates package",
                SYSTEM_BUNDLES.join(", ")
            ))
        })
}

/// The client configuration of TLS outputs: the receiver's certificate must chain to a CA of
/// the bundle and name the host it is reached by.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, SinkError> {
    let path = bundle(ca_file)?;
    let pem = std::fs::read(&path).map_err(|error| SinkError::Read {
        what: "the CA certificates",
        path: path.clone(),
        error,
    })?;
    let roots = roots_from_pem(&pem)
        .map_err(|why| SinkError::Usage(format!("the CA file {}: {why}", path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_without_certificates_are_refused() {
        assert!(roots_from_pem(b"")
            .unwrap_err()
            .contains("no PEM certificate"));
        assert!(roots_from_pem(b"hello\n")
            .unwrap_err()
            .contains("no PEM certificate"));
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(roots_from_pem(junk).is_err());
    }

    #[test]
    fn the_system_bundle_loads_when_there_is_one() {
        if SYSTEM_BUNDLES.iter().any(|p| Path::new(p).is_file()) {
            client_config(None).expect("the system CA bundle");
        }
    }
}
