//! What wsio adds to every client's options, beyond the libraries' own: `deflate = true`
//! (offer permessage-deflate), `insecure = true` (accept any TLS certificate, for tests
//! only), `max_message_size` and `max_frame_size` (bytes). Each is an extra field of the
//! options table a library's `connect` already takes, never required, and applied over that
//! library's own settings (eco's `max_payload_len`, for one).

use mlua::Table;

/// The extra client options, read from an options table.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientExtras {
    deflate: bool,
    insecure: bool,
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
}

impl ClientExtras {
    /// Reads the extras of `options` (none if it is absent).
    pub(crate) fn read(options: Option<&Table>) -> mlua::Result<Self> {
        let Some(options) = options else {
            return Ok(ClientExtras::default());
        };
        Ok(ClientExtras {
            deflate: options.get::<Option<bool>>("deflate")?.unwrap_or(false),
            insecure: options.get::<Option<bool>>("insecure")?.unwrap_or(false),
            max_message_size: options.get("max_message_size")?,
            max_frame_size: options.get("max_frame_size")?,
        })
    }

    /// `builder` with these options.
    pub(crate) fn apply(self, mut builder: wsio::ClientBuilder) -> wsio::ClientBuilder {
        if self.deflate {
            builder = builder.deflate(wsio::DeflateConfig::default());
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
        builder
    }
}
