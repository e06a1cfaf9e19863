//! Mutual TLS between the two nodes: TLS 1.3 only, ring provider, each node's certificate
//! signed by the pair's own CA, and nothing else trusted. The backup refuses any client
//! without a certificate from that CA; the master refuses any server without one.
//!
//! `tls_dir` holds `ca.pem` (the pair's CA certificate), `node.pem` and `node.key` (this
//! node's). `allerta-sync tls-pair` creates them for a new pair. Certificates name the
//! node and the service name `allerta-sync`, which is what the master checks, so the
//! backup's address may change without new certificates.
//!
//! The sync protocol's version is negotiated in the handshake, as the TLS application
//! protocol (ALPN): see [`PROTOCOL`].

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
    #[error("deriving the pair's key from the pairing secret")]
    Kdf,
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
    /// This node's own certificate, which a peer must not present.
    own: CertificateDer<'static>,
    /// This node's name (`[sync]`'s node), which a peer's certificate must not carry.
    node: Option<String>,
}

impl Tls {
    /// After a handshake the CA accepted: whether the peer is the *other* node. A
    /// certificate of the pair is not enough: the same TLS folder copied to both nodes, a
    /// `[sync] peer` pointing back at this node, or a key stolen from this node would each
    /// pass the CA and still not be the peer. `Err` says which.
    pub fn check_peer(&self, peer: Option<&[CertificateDer<'_>]>) -> Result<(), &'static str> {
        let Some(cert) = peer.and_then(|chain| chain.first()) else {
            return Err("the peer presented no certificate");
        };
        if cert.as_ref() == self.own.as_ref() {
            return Err("the peer presented this node's own certificate: is [sync] peer this node's own address, or the same TLS folder on both nodes?");
        }
        let names_us = self.node.as_deref().is_some_and(|node| {
            let Ok(name) = ServerName::try_from(node) else {
                return false;
            };
            webpki::EndEntityCert::try_from(cert)
                .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
        });
        if names_us {
            return Err("the peer's certificate names this node: give each node its own name and its own TLS folder");
        }
        Ok(())
    }
}

/// This agent's sync protocol. 1: the frames of `proto::frame`, with no version said (an
/// agent from before versions offers no ALPN). 2: the same frames, and the version said in
/// the handshake, so each side knows what the other speaks before the first frame; a
/// later change of the frames is spoken only to a peer that offered its version. During a
/// rolling upgrade a node of protocol 2 and one of protocol 1 replicate as before.
pub const PROTOCOL: u32 = 2;

/// What each side offers, newest first: a peer picks the newest both know; a peer that
/// offers nothing (protocol 1) is not refused.
const ALPN: [&[u8]; 2] = [b"allerta-sync/2", b"allerta-sync/1"];

/// The protocol the other side speaks, from the application protocol the handshake agreed
/// on (none: an agent from before versions, protocol 1).
pub fn peer_protocol(alpn: Option<&[u8]>) -> u32 {
    match alpn {
        Some(b"allerta-sync/2") => 2,
        _ => 1,
    }
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

/// This node's TLS as its `[sync]` table says: derived from the pairing secret in
/// `pairing_secret_file` if there is one, else read from `tls_dir`.
pub fn for_node(cfg: &crate::config::Config) -> Result<Tls, TlsError> {
    match &cfg.pairing_secret_file {
        Some(path) => {
            let text = String::from_utf8(read(path)?).map_err(|_| TlsError::Pem {
                path: path.clone(),
                what: "UTF-8 pairing secret",
            })?;
            from_pairing_secret(text.trim_end_matches(['\r', '\n']), &cfg.node)
        }
        None => load(&cfg.tls_dir).map(|tls| Tls {
            node: Some(cfg.node.clone()),
            ..tls
        }),
    }
}

/// A TLS handshake that failed over certificates: the other node is not of this pair (a
/// different pairing secret or TLS material), not an outage.
pub fn not_this_pair(e: &std::io::Error) -> Option<&'static str> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match tls {
        // Signed by the pair's CA but not for this service: TLS material made by hand.
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            ..
        }) => Some(
            "the peer's certificate does not name allerta-sync (subjectAltName DNS:allerta-sync): make both nodes' TLS material with one `allerta-sync tls-pair`",
        ),
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::AlertReceived(_) => Some(
            "the peer's certificate is not from this pair: give both nodes the same pairing secret (or TLS material from one `allerta-sync tls-pair`)",
        ),
        _ => None,
    }
}

/// Loads `ca.pem`, `node.pem` and `node.key` from `dir`.
pub fn load(dir: &Path) -> Result<Tls, TlsError> {
    let pem_err = |path: PathBuf, what| TlsError::Pem { path, what };
    let ca_path = dir.join("ca.pem");
    let roots_vec: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&ca_path)?)
        .collect::<Result<_, _>>()
        .map_err(|_| pem_err(ca_path.clone(), "certificate"))?;
    if roots_vec.is_empty() {
        return Err(pem_err(ca_path, "certificate"));
    }
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

    configs(roots_vec, chain, key)
}

/// Both ends of the TLS from the pair's CA certificates, this node's chain and its key.
fn configs(
    ca: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Tls, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert)?;
    }
    let roots = Arc::new(roots);
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider()).build()?;
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    let own = chain
        .first()
        .cloned()
        .ok_or(TlsError::Rustls(rustls::Error::NoCertificatesPresented))?;
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(Arc::clone(&roots))
        .with_client_auth_cert(chain, key)?;
    client.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Tls {
        server: Arc::new(server),
        client: Arc::new(client),
        own,
        node: None,
    })
}

/// The pair's TLS from the wizard's pairing secret, with no exchange between the nodes and
/// no file written: both nodes derive the same CA key from the secret, and each signs a
/// certificate of its own with it (a fresh key at every start).
///
/// The construction: `seed = argon2id(secret, salt "allerta-sync pairing v1", 64 MiB, 3
/// passes)`, 32 bytes; the CA is the Ed25519 key of that seed, self-signed with a fixed name,
/// serial and validity, so both nodes hold the same CA certificate. Why it is safe: a node
/// trusts only certificates signed by that key, which only a holder of the secret can derive;
/// Ed25519 signatures and argon2id are deterministic, so a node with a different secret
/// derives another CA and the handshake fails both ways (the peer's certificate is "not
/// from this pair", logged as such). What it does not protect against: a secret guessed
/// offline. The CA key is never sent, but a node's certificate (sent in every handshake)
/// lets an attacker test candidate secrets; argon2id makes each guess cost about 64 MiB and
/// a tenth of a second, and first boot refuses secrets under 16 characters. A random
/// secret of 16 characters or more is out of reach; a dictionary phrase is not.
pub fn from_pairing_secret(secret: &str, node: &str) -> Result<Tls, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SerialNumber,
    };
    let seed = pairing_seed(secret)?;
    // PKCS#8 v1 for an Ed25519 private key (RFC 8410): a fixed prefix, then the seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    let ca_key = KeyPair::try_from(pkcs8.as_slice())?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Allerta sync pair CA (pairing secret)");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.serial_number = Some(SerialNumber::from_slice(&seed[..8]));
    ca_params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec![SERVICE_NAME.to_owned(), node.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, node);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let cert = params.signed_by(&key, &issuer)?;
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|_| TlsError::Pem {
        path: PathBuf::from("(pairing secret)"),
        what: "private key",
    })?;
    let tls = configs(vec![ca_cert.der().clone()], vec![cert.der().clone()], key)?;
    Ok(Tls {
        node: Some(node.to_owned()),
        ..tls
    })
}

/// The 32 bytes the pair CA's key is made from (see [`from_pairing_secret`]).
fn pairing_seed(secret: &str) -> Result<[u8; 32], TlsError> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(64 * 1024, 3, 1, Some(32)).map_err(|_| TlsError::Kdf)?;
    let mut seed = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret.as_bytes(), b"allerta-sync pairing v1", &mut seed)
        .map_err(|_| TlsError::Kdf)?;
    Ok(seed)
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
    fn a_certificate_for_another_name_gets_its_own_hint() {
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let name = wrap(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        assert!(not_this_pair(&name)
            .unwrap()
            .contains("does not name allerta-sync"));
        let other = wrap(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(not_this_pair(&other)
            .unwrap()
            .contains("not from this pair"));
        assert!(not_this_pair(&io::Error::other("reset")).is_none());
    }

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
    fn only_the_other_node_passes_the_identity_check() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = create_pair(dir.path(), &["node-a".into(), "node-b".into()]).unwrap();
        let named = |d: &Path, node: &str| Tls {
            node: Some(node.into()),
            ..load(d).unwrap()
        };
        let (a, b) = (named(&dirs[0], "node-a"), named(&dirs[1], "node-b"));
        assert_eq!(a.check_peer(Some(std::slice::from_ref(&b.own))), Ok(()));
        assert_eq!(b.check_peer(Some(std::slice::from_ref(&a.own))), Ok(()));
        assert!(a
            .check_peer(Some(std::slice::from_ref(&a.own)))
            .unwrap_err()
            .contains("own certificate"));
        assert!(a.check_peer(None).is_err());
        // Two nodes both called node-a (each derives its own key from the secret).
        let secret = "correct horse battery staple";
        let (x, y) = (
            from_pairing_secret(secret, "node-a").unwrap(),
            from_pairing_secret(secret, "node-a").unwrap(),
        );
        assert!(x
            .check_peer(Some(std::slice::from_ref(&y.own)))
            .unwrap_err()
            .contains("names this node"));
    }

    /// A mutual TLS handshake between `master` (client) and `backup` (server) in memory.
    fn handshake(master: &Tls, backup: &Tls) -> Result<(), String> {
        handshake_protocols(master, backup).map(|_| ())
    }

    /// As [`handshake`]; the protocol each side then sees the other speak (master's view,
    /// backup's view).
    fn handshake_protocols(master: &Tls, backup: &Tls) -> Result<(u32, u32), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (c, s) = tokio::io::duplex(64 * 1024);
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&backup.server));
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&master.client));
            let (server, client) =
                tokio::join!(acceptor.accept(s), connector.connect(server_name(), c));
            let hint = |e: &io::Error| not_this_pair(e).map_or("", |_| " (not this pair)");
            let mut client = client.map_err(|e| format!("client: {e}{}", hint(&e)))?;
            let mut server = server.map_err(|e| format!("server: {e}{}", hint(&e)))?;
            // TLS 1.3: the server judges the client's certificate after the client thinks
            // it is done; one byte each way settles it.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            client
                .write_all(b"x")
                .await
                .map_err(|e| format!("client write: {e}"))?;
            let mut b = [0u8; 1];
            server
                .read_exact(&mut b)
                .await
                .map_err(|e| format!("server read: {e}{}", hint(&e)))?;
            Ok((
                peer_protocol(client.get_ref().1.alpn_protocol()),
                peer_protocol(server.get_ref().1.alpn_protocol()),
            ))
        })
    }

    /// A node of before versions: the same TLS with no application protocol offered.
    fn protocol_1(t: &Tls) -> Tls {
        let mut old = t.clone();
        let mut server = (*old.server).clone();
        server.alpn_protocols.clear();
        let mut client = (*old.client).clone();
        client.alpn_protocols.clear();
        old.server = Arc::new(server);
        old.client = Arc::new(client);
        old
    }

    #[test]
    fn each_side_learns_the_others_protocol_and_an_older_node_is_not_refused() {
        let secret = "correct horse battery staple";
        let a = from_pairing_secret(secret, "node-a").unwrap();
        let b = from_pairing_secret(secret, "node-b").unwrap();
        assert_eq!(handshake_protocols(&a, &b), Ok((2, 2)));
        // A rolling upgrade: either node may be the one still on protocol 1.
        assert_eq!(handshake_protocols(&protocol_1(&a), &b), Ok((1, 1)));
        assert_eq!(handshake_protocols(&a, &protocol_1(&b)), Ok((1, 1)));
    }

    #[test]
    fn two_nodes_with_the_same_pairing_secret_trust_each_other_and_no_one_else() {
        let secret = "correct horse battery staple";
        let a = from_pairing_secret(secret, "node-a").unwrap();
        let b = from_pairing_secret(secret, "node-b").unwrap();
        handshake(&a, &b).unwrap();
        handshake(&b, &a).unwrap();
        let stranger = from_pairing_secret("another pairing secret here", "node-b").unwrap();
        let refused = |r: Result<(), String>| r.is_err_and(|e| e.contains("(not this pair)"));
        assert!(
            refused(handshake(&a, &stranger)),
            "a master accepted a backup of another pair, or did not say why"
        );
        assert!(
            refused(handshake(&stranger, &a)),
            "a backup accepted a master of another pair, or did not say why"
        );
        // Nor a node of a pair made with `tls-pair`.
        let dir = tempfile::tempdir().unwrap();
        let dirs = create_pair(dir.path(), &["node-a".into(), "node-b".into()]).unwrap();
        let files = load(&dirs[1]).unwrap();
        assert!(handshake(&a, &files).is_err() && handshake(&files, &a).is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).err().unwrap();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
