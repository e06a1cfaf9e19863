//! Driver: the certificate the console serves on the VIP.
//!
//! Both nodes must serve the same one: a browser that accepted it once (or trusts the
//! pair's certificate) must not see a new one after a takeover, and an EventSource cannot
//! click through a warning, so live progress would stop. So, unless the administrator
//! gives files of their own (`[console] tls_cert`/`tls_key`, the same on both nodes), the
//! master makes one (ECDSA P-256, which every browser takes; named for the VIP and the
//! nodes) and keeps it in the replicated database, where the backup finds it. Until a
//! backup has received it, it serves a temporary one of its own; the swap needs no restart
//! (`Certificates` is asked at each handshake).

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use alertdb::console::CertificatePem;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Pem(String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("making the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its key, ready for handshakes.
pub fn certified(pem: &CertificatePem) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate in the PEM text".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes())
        .map_err(|e| TlsError::Pem(format!("private key: {e}")))?;
    let key = provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(certs, key);
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// Reads an administrator's certificate and key files.
pub fn from_files(cert: &Path, key: &Path) -> Result<CertificatePem, TlsError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| TlsError::Pem(format!("{}: {e}", p.display())))
    };
    Ok(CertificatePem {
        cert: read(cert)?,
        key: read(key)?,
    })
}

/// A new self-signed certificate for the console, valid ten years, named for `names`
/// (DNS names) and `ips`.
pub fn generate(names: &[String], ips: &[IpAddr]) -> Result<CertificatePem, TlsError> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType};
    let mut params = CertificateParams::new(names.to_vec())?;
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "Allerta console");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(86_400)).into();
    params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 86_400)).into();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok(CertificatePem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The certificate in force, swapped when the replicated one arrives or changes.
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<(CertificatePem, Arc<CertifiedKey>)>,
}

impl Certificates {
    pub fn new(pem: CertificatePem) -> Result<Self, TlsError> {
        let key = certified(&pem)?;
        Ok(Self {
            current: RwLock::new((pem, key)),
        })
    }

    /// Serves `pem` from the next handshake on; false if it is the one in force already.
    pub fn replace(&self, pem: &CertificatePem) -> Result<bool, TlsError> {
        if self.current.read().map(|c| c.0 == *pem).unwrap_or(false) {
            return Ok(false);
        }
        let key = certified(pem)?;
        if let Ok(mut c) = self.current.write() {
            *c = (pem.clone(), key);
        }
        Ok(true)
    }

    /// The PEM in force.
    pub fn pem(&self) -> Option<CertificatePem> {
        self.current.read().ok().map(|c| c.0.clone())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.1.clone())
    }
}

/// TLS 1.2 and 1.3 with the ring provider; HTTP/2 first (a browser's tabs then share one
/// connection, where HTTP/1.1 allows six per host and a seventh live stream would hang).
pub fn server_config(certificates: Arc<Certificates>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_a_swap_takes_a_different_one_only() {
        let a = generate(&["allerta".into()], &["10.77.0.10".parse().unwrap()]).unwrap();
        let b = generate(&["allerta".into()], &[]).unwrap();
        let certs = Certificates::new(a.clone()).unwrap();
        assert!(!certs.replace(&a).unwrap());
        assert!(certs.replace(&b).unwrap());
        assert_eq!(certs.pem(), Some(b.clone()));
        let wrong = CertificatePem {
            cert: b.cert.clone(),
            key: a.key.clone(),
        };
        assert!(certified(&wrong).is_err(), "a key of another certificate");
        assert!(certified(&CertificatePem {
            cert: "nothing".into(),
            key: a.key
        })
        .is_err());
        assert!(server_config(Arc::new(certs)).is_ok());
    }
}
