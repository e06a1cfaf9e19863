//! Mutual TLS between the two nodes: TLS 1.3 only, ring provider, each node's certificate
//! signed by the pair's own CA, and nothing else trusted. The backup refuses any client
//! without a certificate from that CA; the master refuses any server without one.
//!
//! `tls_dir` holds `ca.pem` (the pair's CA certificate), `node.pem` and `node.key` (this
//! node's). `allerta-sync tls-pair` creates them for a new pair. Certificates name the
//! node and the service name `allerta-sync`, which is what the master checks, so the
//! backup's address may change without new certificates.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The name every node certificate carries and the master verifies.
pub const SERVICE_NAME: &str = "allerta-sync";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: no usable PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("TLS configuration")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("creating certificates")]
    Rcgen(#[from] rcgen::Error),
    #[error("{path}: cannot write")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Both ends of this node's TLS.
#[derive(Clone)]
pub struct Tls {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVICE_NAME).expect("a valid DNS name")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Loads `ca.pem`, `node.pem` and `node.key` from `dir`.
pub fn load(dir: &Path) -> Result<Tls, TlsError> {
    let pem_err = |path: PathBuf, what| TlsError::Pem { path, what };
    let ca_path = dir.join("ca.pem");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(&ca_path)?) {
        let cert = cert.map_err(|_| pem_err(ca_path.clone(), "certificate"))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(pem_err(ca_path, "certificate"));
    }
    let roots = Arc::new(roots);
    let cert_path = dir.join("node.pem");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert_path)?)
        .collect::<Result<_, _>>()
        .map_err(|_| pem_err(cert_path.clone(), "certificate"))?;
    if chain.is_empty() {
        return Err(pem_err(cert_path, "certificate"));
    }
    let key_path = dir.join("node.key");
    let key = PrivateKeyDer::from_pem_slice(&read(&key_path)?)
        .map_err(|_| pem_err(key_path.clone(), "private key"))?;

    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider()).build()?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    let client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(Arc::clone(&roots))
        .with_client_auth_cert(chain, key)?;
    Ok(Tls {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

/// Creates a CA and a certificate for each node, in `out/<node>/` (`ca.pem`, `node.pem`,
/// `node.key` mode 0600): copy each folder to its node's `tls_dir`. The CA's key is not
/// kept: a new pair (or a replaced node) gets a new CA, so no stray key can mint a peer.
pub fn create_pair(out: &Path, nodes: &[String]) -> Result<Vec<PathBuf>, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Allerta sync pair CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let write = |path: PathBuf, text: &str, mode: u32| -> Result<(), TlsError> {
        let wrap = |source| TlsError::Write {
            path: path.clone(),
            source,
        };
        fs::write(&path, text).map_err(wrap)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(wrap)
    };
    let mut dirs = Vec::new();
    for node in nodes {
        let dir = out.join(node);
        fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
            path: dir.clone(),
            source,
        })?;
        let mut params = CertificateParams::new(vec![SERVICE_NAME.to_owned(), node.clone()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, node.as_str());
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_after = rcgen::date_time_ymd(2125, 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write(dir.join("ca.pem"), &ca_cert.pem(), 0o644)?;
        write(dir.join("node.pem"), &cert.pem(), 0o644)?;
        write(dir.join("node.key"), &key.serialize_pem(), 0o600)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pair_loads_on_both_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = create_pair(dir.path(), &["node-a".into(), "node-b".into()]).unwrap();
        for d in &dirs {
            load(d).unwrap();
            let mode = fs::metadata(d.join("node.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).err().unwrap();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
