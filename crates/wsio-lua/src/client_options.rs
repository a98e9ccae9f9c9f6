//! What wsio adds to every client's options, beyond the libraries' own: `deflate = true`
//! (offer permessage-deflate), `insecure = true` (accept any TLS certificate, for tests
//! only), `cafile` (a PEM file of the certificates to trust instead of the webpki roots),
//! `certificate` and `key` (PEM files of a client certificate and its key, for servers that
//! ask for one), `max_message_size` and `max_frame_size` (bytes). Each is an extra field of
//! the options table a library's `connect` already takes, never required, and applied over
//! that library's own settings (eco's `max_payload_len`, for one). coro-websocket's `tls`
//! may be a table of the TLS fields (`insecure`, `cafile`, `certificate`, `key`).

use std::sync::Arc;

use mlua::Table;
use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::args::{certificate_and_key, pem_error};

/// The extra client options, read from an options table.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientExtras {
    deflate: bool,
    insecure: bool,
    roots: Option<Vec<CertificateDer<'static>>>,
    identity: Option<Arc<Identity>>,
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
}

/// A client certificate chain and its key, read once and shown on every connection.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl ClientExtras {
    /// Reads the extras of `options` (none if it is absent); the PEM files named are read
    /// now, and a Lua error says which one is wrong.
    pub(crate) fn read(options: Option<&Table>) -> mlua::Result<Self> {
        let Some(options) = options else {
            return Ok(ClientExtras::default());
        };
        let mut extras = ClientExtras {
            deflate: options.get::<Option<bool>>("deflate")?.unwrap_or(false),
            max_message_size: options.get("max_message_size")?,
            max_frame_size: options.get("max_frame_size")?,
            ..ClientExtras::default()
        };
        extras.read_tls(options)?;
        if let mlua::Value::Table(tls) = options.get("tls")? {
            extras.read_tls(&tls)?;
        }
        Ok(extras)
    }

    /// The TLS fields of `table`, over those read before.
    fn read_tls(&mut self, table: &Table) -> mlua::Result<()> {
        if let Some(insecure) = table.get::<Option<bool>>("insecure")? {
            self.insecure = insecure;
        }
        if let Some(cafile) = table.get::<Option<String>>("cafile")? {
            self.roots =
                Some(wsio::pem::certificates(&cafile).map_err(|problem| pem_error(&problem))?);
        }
        if let Some((chain, key)) = certificate_and_key(table)? {
            self.identity = Some(Arc::new(Identity { chain, key }));
        }
        Ok(())
    }

    /// `builder` with these options; an error if the certificates to trust cannot be used.
    pub(crate) fn apply(
        &self,
        mut builder: wsio::ClientBuilder,
    ) -> wsio::Result<wsio::ClientBuilder> {
        if self.deflate {
            builder = builder.deflate(wsio::DeflateConfig::default());
        }
        if let Some(roots) = &self.roots {
            builder = builder.tls_root_certificates(roots.iter().cloned())?;
        }
        if let Some(identity) = &self.identity {
            builder =
                builder.tls_client_certificate(identity.chain.clone(), identity.key.clone_key());
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(size) = self.max_message_size {
            builder = builder.max_message_size(size);
        }
        if let Some(size) = self.max_frame_size {
            builder = builder.max_frame_size(size);
        }
        Ok(builder)
    }
}
