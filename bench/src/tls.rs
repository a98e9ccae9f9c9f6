//! TLS for the `wss://` scenario: a self-signed certificate made at the start of a run, and
//! the rustls configurations (ring provider) both sides build from it.
//!
//! The runner writes the certificate and its key into a directory ([`generate`]); the server
//! (`--tls DIR`) serves with them and the generator (`--tls DIR`) trusts the certificate, and
//! nothing else, for the name `localhost`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::BoxError;

/// The certificate's file in the directory, DER.
const CERT: &str = "cert.der";
/// The private key's file in the directory, PKCS #8 DER.
const KEY: &str = "key.der";
/// The name the certificate is for and the generator asks for.
const NAME: &str = "localhost";

/// Makes a self-signed certificate for `localhost` and writes it, and its key, into `dir`.
pub fn generate(dir: &Path) -> Result<(), BoxError> {
    let certified = rcgen::generate_simple_self_signed(vec![NAME.to_string()])?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(CERT), certified.cert.der())?;
    std::fs::write(dir.join(KEY), certified.key_pair.serialize_der())?;
    Ok(())
}

/// The ring provider, named rather than left to the process default.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration with the certificate and key in `dir`.
pub fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, BoxError> {
    let cert = CertificateDer::from(std::fs::read(dir.join(CERT))?);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(dir.join(KEY))?));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificate in `dir` alone.
pub fn client_config(dir: &Path) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(std::fs::read(dir.join(CERT))?))?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the generator connects to.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(NAME).expect("a valid DNS name")
}
