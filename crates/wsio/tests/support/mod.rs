//! What the integration tests share: the time limit, an echo loop, socket paths and
//! certificates.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use wsio::WebSocket;

/// Bounds every test: nothing here may hang.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Echoes data messages until the connection ends.
pub async fn echo<S>(mut ws: WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// A Unix socket path in a fresh folder of its own, removed with the value.
pub struct SocketPath {
    dir: PathBuf,
    pub path: PathBuf,
}

impl SocketPath {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsio-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&path);
        SocketPath { dir, path }
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(feature = "tls")]
pub mod tls {
    use std::sync::Arc;

    use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use wsio::rustls::{self, ClientConfig, RootCertStore};

    pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A self-signed certificate for `localhost`, and its key.
    pub fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        (certified.cert.der().clone(), key.into())
    }

    /// A client configuration that trusts `cert` alone.
    pub fn trusting(cert: &CertificateDer<'static>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}
