//! Reaching a server through a proxy: HTTP `CONNECT` tunnels (to the proxy over TCP or TLS),
//! SOCKS5, SOCKS4 and SOCKS4a tunnels, and the proxy environment variables, read with curl's
//! conventions.
//!
//! A client takes its proxies from the environment unless told otherwise
//! ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy),
//! [`ClientBuilder::proxies`](crate::ClientBuilder::proxies),
//! [`ClientBuilder::no_proxy`](crate::ClientBuilder::no_proxy)); see [`Proxies`] for which
//! variables count. The tunnel carries the WebSocket's own bytes: for `wss://` the TLS
//! session runs end to end between the client and the server, and the proxy sees only
//! ciphertext. `ws+unix://` URLs never go through a proxy.
//!
//! ```no_run
//! # async fn demo() -> wsio::Result<()> {
//! use wsio::proxy::Proxy;
//!
//! let proxy: Proxy = "http://alice:secret@127.0.0.1:3128".parse()?;
//! let (ws, _) = wsio::ClientBuilder::new("wss://example.com/chat")?
//!     .proxy(proxy)
//!     .connect()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! A proxy's password appears in no error message and no log line; [`Proxy`]'s `Display` and
//! `Debug` leave it out.

mod error;
mod http_connect;
mod no_proxy;
mod proxies;
mod proxy_url;
#[cfg(feature = "socks")]
mod socks;
mod tunnel;

pub use error::{ProxyError, SocksFailure};
pub use no_proxy::NoProxy;
pub use proxies::Proxies;
pub use proxy_url::{Proxy, ProxyScheme};
pub(crate) use tunnel::{Target, choose_address, handshake};
