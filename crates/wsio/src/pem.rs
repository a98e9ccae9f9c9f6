//! Certificates and private keys read from PEM files, for
//! [`ServerBuilder::tls_certificate`](crate::ServerBuilder::tls_certificate),
//! [`ClientBuilder::tls_root_certificates`](crate::ClientBuilder::tls_root_certificates) and
//! [`ClientBuilder::tls_client_certificate`](crate::ClientBuilder::tls_client_certificate).
//! The parsing is rustls-pki-types'; what this adds is an error that names the file.
//!
//! ```no_run
//! # async fn demo() -> wsio::Result<()> {
//! let server = wsio::Server::builder()
//!     .tls_certificate(
//!         wsio::pem::certificates("cert.pem")?,
//!         wsio::pem::private_key("key.pem")?,
//!     )?
//!     .bind("127.0.0.1:8443")
//!     .await?;
//! # Ok(()) }
//! ```

use std::io;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// Every certificate in the PEM file at `path`, in the file's order (for a chain: the leaf
/// first). An [`Error::Io`] naming the file if it cannot be read (with the kind of the
/// reading error) or parsed, or holds no certificate (`InvalidData`).
pub fn certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|error| pem_error(path, error))?;
    if certificates.is_empty() {
        return Err(file_error(
            path,
            io::ErrorKind::InvalidData,
            "no PEM certificate in it",
        ));
    }
    Ok(certificates)
}

/// The first private key (PKCS #8, PKCS #1 or SEC1) in the PEM file at `path`. An
/// [`Error::Io`] naming the file if it cannot be read or holds no key.
pub fn private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|error| pem_error(path, error))
}

/// A reading or parsing error, with the file's name; a file that cannot be read keeps the
/// kind of its error (`NotFound`, `PermissionDenied`), the others are `InvalidData`.
fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> Error {
    let kind = match &error {
        rustls::pki_types::pem::Error::Io(io) => io.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    file_error(path, kind, error)
}

fn file_error(path: &Path, kind: io::ErrorKind, why: impl std::fmt::Display) -> Error {
    Error::Io(io::Error::new(kind, format!("{}: {why}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    /// A file without PEM blocks, or missing, gives an error naming it.
    #[test]
    fn errors_name_the_file() {
        let mut file = scratch_file("not-pem.txt");
        file.1.write_all(b"hello\n").unwrap();
        let error = super::certificates(&file.0).unwrap_err().to_string();
        assert!(error.contains("not-pem.txt"), "{error}");
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = super::private_key(&file.0).unwrap_err().to_string();
        assert!(error.contains("not-pem.txt"), "{error}");
        let error = super::certificates(file.0.with_extension("missing")).unwrap_err();
        assert!(error.to_string().contains("not-pem.missing"), "{error}");
        let crate::Error::Io(error) = error else {
            panic!("{error}")
        };
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_file(&file.0).unwrap();
    }

    fn scratch_file(name: &str) -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("wsio-pem-{}-{name}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }
}
