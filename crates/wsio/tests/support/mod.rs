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

/// Runs `server` on a task of its own: its address, a handle to stop it, and the task.
pub fn serve(
    server: wsio::Server,
) -> (
    std::net::SocketAddr,
    wsio::ServerHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let addr = server.local_addr().expect("a TCP listener");
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

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

/// The response of a server that refused the opening handshake; any other error fails the
/// test.
pub fn refusal(error: wsio::Error) -> http::Response<bytes::Bytes> {
    let wsio::Error::Rejected(response) = error else {
        panic!("{error:?}")
    };
    *response
}

/// Connects to `url` with a 300 ms connect timeout, which must pass: the error.
pub async fn connect_timing_out(url: &str) -> wsio::Error {
    let error = wsio::ClientBuilder::new(url)
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, wsio::Error::Timeout(wsio::Phase::Connect)),
        "{error:?}"
    );
    error
}

/// Hands `message` to the reconnecting client, waiting for room while its queue is full.
pub async fn send_waiting(
    client: &wsio::reconnect::ReconnectingClient,
    mut message: wsio::Message,
) {
    loop {
        match client.send(message) {
            Ok(()) => return,
            Err(wsio::reconnect::QueueError::Full(back)) => {
                message = back;
                client.ready().await.unwrap();
            }
            Err(error) => panic!("{error}"),
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

    /// A self-signed certificate for `localhost`, written as PEM files in a directory named
    /// `name` under the tests' scratch directory: the paths of the certificate and the key,
    /// and the certificate, to trust.
    pub fn pem_files(name: &str) -> (String, String, CertificateDer<'static>) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
        let path = |path: std::path::PathBuf| path.to_str().unwrap().to_owned();
        (path(cert), path(key), certified.cert.der().clone())
    }

    /// A certificate authority made for a test: its own certificate, to trust or not, and what
    /// it signs with.
    pub struct Authority {
        pub cert: CertificateDer<'static>,
        issuer: rcgen::Certificate,
        key: rcgen::KeyPair,
    }

    impl Authority {
        pub fn new() -> Self {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            // A name of its own, so that no two authorities pass for each other.
            static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            params.distinguished_name.push(
                rcgen::DnType::CommonName,
                format!("wsio test authority {n}"),
            );
            let issuer = params.self_signed(&key).unwrap();
            Authority {
                cert: issuer.der().clone(),
                issuer,
                key,
            }
        }

        /// A certificate for `localhost` signed by this authority, valid from the first day
        /// of the first year to the first day of the second (rcgen's default, a long span
        /// around now, without them), and its key.
        pub fn issue(
            &self,
            years: Option<(i32, i32)>,
        ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            if let Some((from, to)) = years {
                params.not_before = rcgen::date_time_ymd(from, 1, 1);
                params.not_after = rcgen::date_time_ymd(to, 1, 1);
            }
            let cert = params.signed_by(&key, &self.issuer, &self.key).unwrap();
            let key = PrivatePkcs8KeyDer::from(key.serialize_der());
            (cert.der().clone(), key.into())
        }
    }

    /// A self-signed certificate for `localhost` with its key, in DER and in PEM.
    pub struct Pair {
        pub cert: CertificateDer<'static>,
        pub key: PrivateKeyDer<'static>,
        cert_pem: String,
        key_pem: String,
    }

    impl Pair {
        pub fn new() -> Self {
            let certified =
                rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
            Pair {
                cert: certified.cert.der().clone(),
                key: key.into(),
                cert_pem: certified.cert.pem(),
                key_pem: certified.key_pair.serialize_pem(),
            }
        }

        /// The certificate and the key in one PEM file, as haproxy and nginx take them.
        pub fn pem(&self) -> String {
            format!("{}{}", self.cert_pem, self.key_pem)
        }
    }

    /// Binds `builder` on 127.0.0.1, serving TLS with `pair`'s certificate if given, and runs
    /// it: its address.
    pub async fn serve(builder: wsio::ServerBuilder, pair: Option<&Pair>) -> std::net::SocketAddr {
        let builder = match pair {
            Some(pair) => builder
                .tls_certificate(vec![pair.cert.clone()], pair.key.clone_key())
                .unwrap(),
            None => builder,
        };
        super::serve(builder.bind("127.0.0.1:0").await.unwrap()).0
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
