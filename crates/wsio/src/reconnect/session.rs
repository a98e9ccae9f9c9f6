//! The restore hook's view of a fresh connection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use wsio_proto::{Message, SendError, Utf8Bytes};

use super::events::SessionInfo;
use crate::client::Response;
use crate::error::{Error, Result};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// The future a restore hook returns.
pub(super) type RestoreFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// The restore hook as stored: called with each fresh connection's session.
pub(super) type RestoreHook = Box<dyn FnMut(Session) -> RestoreFuture + Send>;

/// A fresh connection, lent to the restore hook (see
/// [`Builder::on_restore`](super::Builder::on_restore)) before anything queued is sent: log in,
/// resubscribe, and read the server's answers here.
///
/// It is valid only while the hook runs: afterwards sending fails with
/// [`SendError::Closed`] and receiving returns `None`.
pub struct Session {
    ws: WebSocket<Transport>,
    info: SessionInfo,
    response: Arc<Response>,
    active: Arc<AtomicBool>,
}

impl Session {
    pub(super) fn new(
        ws: WebSocket<Transport>,
        info: SessionInfo,
        response: Arc<Response>,
        active: Arc<AtomicBool>,
    ) -> Self {
        Session {
            ws,
            info,
            response,
            active,
        }
    }

    /// Which attempt this is and how the previous connection ended.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The server's handshake response.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Sends a message ahead of everything queued, and waits until it is written.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        if !self.active.load(Ordering::Acquire) {
            return Err(Error::Send(SendError::Closed));
        }
        self.ws.send(message).await
    }

    /// Sends a text message ahead of everything queued.
    pub async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a binary message ahead of everything queued.
    pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Binary(data.into())).await
    }

    /// The next message from the server, as [`WebSocket::recv`] gives it. What the hook does
    /// not read arrives later as [`Event`](super::Event)s.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        std::future::poll_fn(|cx| {
            if !self.active.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            Pin::new(&mut self.ws).poll_next(cx)
        })
        .await
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
