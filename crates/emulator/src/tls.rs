//! TLS: a certificate authority generated at start (rcgen, ring), a server certificate
//! for `localhost`, `127.0.0.1` and `::1` signed by it, and a rustls server configuration
//! offering HTTP/2 and HTTP/1.1 by ALPN.
//!
//! Clients trust the emulator by adding the CA's PEM (written to disk at start, see
//! [`Emulator::ca_cert_path`](crate::Emulator::ca_cert_path)) to their roots, exactly as
//! they would add a corporate CA; nothing is made insecure.

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::IpAddr;
use std::sync::Arc;

pub(crate) struct Tls {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

/// Makes the CA and the server certificate; `extra_ip` is added to the names when the
/// emulator listens on a specific non-loopback address.
pub(crate) fn generate(extra_ip: Option<IpAddr>) -> Result<Tls, Error> {
    let ca_key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(Error::Certificate)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "logferry emulator test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(Error::Certificate)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(ip) = extra_ip {
        names.push(ip.to_string());
    }
    let leaf_key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut leaf = CertificateParams::new(names).map_err(Error::Certificate)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(Error::Certificate)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca.der().clone()], key)
        .map_err(Error::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca.pem(),
        server_config: Arc::new(config),
    })
}
