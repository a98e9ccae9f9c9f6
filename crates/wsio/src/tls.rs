//! TLS for `wss://`: how a client's rustls configuration is made from its options, and a
//! server's from its certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::Error;

/// Where a client's trust comes from.
#[derive(Debug, Clone, Default)]
pub(crate) enum TlsTrust {
    /// The webpki roots compiled into the program (Mozilla's list).
    #[default]
    WebPki,
    /// The operating system's root certificates.
    #[cfg(feature = "native-roots")]
    Native,
    /// Exactly these root certificates (a private CA, for one).
    Roots(Arc<RootCertStore>),
    /// A configuration the caller built.
    Custom(Arc<ClientConfig>),
}

/// A client's TLS settings: whom it trusts, the certificate it shows if any, and whether it
/// accepts any certificate instead (over `trust`, which stays for when that is turned off).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientTls {
    pub(crate) trust: TlsTrust,
    pub(crate) identity: Option<Arc<Identity>>,
    pub(crate) accept_anything: bool,
}

/// A certificate chain (leaf first) and its private key, shown to a server that asks.
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The crypto provider every configuration made here uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls configuration for `tls`, offering the `alpn` protocols (`http/1.1`,
/// or `h2` first for HTTP/2). A configuration the caller built keeps its own ALPN for
/// HTTP/1.1 alone, and takes `alpn` for HTTP/2.
pub(crate) fn client_config(tls: &ClientTls, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, Error> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let verified = match &tls.trust {
        _ if tls.accept_anything => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider()))),
        TlsTrust::Custom(config) if alpn == [b"http/1.1"] => return Ok(config.clone()),
        TlsTrust::Custom(config) => {
            let mut config = (**config).clone();
            config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
            return Ok(Arc::new(config));
        }
        TlsTrust::WebPki => builder.with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        TlsTrust::Roots(roots) => builder.with_root_certificates(roots.clone()),
        #[cfg(feature = "native-roots")]
        TlsTrust::Native => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for certificate in found.certs {
                // A certificate the store cannot use is skipped; the others still count.
                let _ = roots.add(certificate);
            }
            if roots.is_empty() {
                return Err(Error::Io(std::io::Error::other(format!(
                    "no usable native root certificates: {:?}",
                    found.errors
                ))));
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut config = match &tls.identity {
        Some(identity) => verified
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(tls_error)?,
        None => verified.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The server name for SNI and certificate checks.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Url(wsio_proto::UrlError::InvalidHost(host.to_owned())))
}

/// Turns an I/O error from the TLS layer into [`Error::Tls`] when rustls is behind it.
pub(crate) fn map_io_error(error: std::io::Error) -> Error {
    let is_tls = error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if !is_tls {
        return Error::Io(error);
    }
    let inner = error.into_inner().expect("checked above");
    match inner.downcast::<rustls::Error>() {
        Ok(tls) => tls_error(*tls),
        Err(other) => Error::Io(std::io::Error::other(other)),
    }
}

/// A server's rustls configuration for a certificate chain and its private key, without client
/// authentication, offering the `alpn` protocols; shared by the async and the blocking
/// server's `tls_certificate`.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(tls_error)?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

pub(crate) fn tls_error(error: rustls::Error) -> Error {
    Error::Tls(Box::new(error))
}

/// A verifier that accepts every server certificate, for `danger_accept_invalid_certs`. The
/// handshake's signatures are still checked, so the peer must hold the key of the certificate
/// it shows; only the certificate's trust, name and dates go unchecked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::TlsTrust;

    /// SECURITY.md: a `wss://` client trusts the webpki roots unless it is told otherwise, and
    /// turning the insecure option off again restores them, or the roots it was given.
    #[test]
    fn a_client_trusts_the_webpki_roots_by_default() {
        let builder = crate::ClientBuilder::new("wss://example.com/").unwrap();
        assert!(matches!(builder.tls.trust, TlsTrust::WebPki));
        assert!(!builder.tls.accept_anything);
        let builder = builder.danger_accept_invalid_certs(true);
        assert!(builder.tls.accept_anything);
        let builder = builder.danger_accept_invalid_certs(false);
        assert!(matches!(builder.tls.trust, TlsTrust::WebPki));
        assert!(!builder.tls.accept_anything);
        let certified = rcgen::generate_simple_self_signed(vec!["example.com".into()]).unwrap();
        let builder = builder
            .tls_root_certificates([certified.cert.der().clone()])
            .unwrap()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_certs(false);
        assert!(matches!(builder.tls.trust, TlsTrust::Roots(_)));
    }
}
