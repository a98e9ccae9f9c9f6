//! A message encoded once for many connections: the frames of a broadcast.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use crate::extension::{EncodingKey, Extension};
use crate::frame::{FrameHeader, OpCode};
use crate::message::Message;
use crate::utf8::Utf8Bytes;

/// A text or binary message prepared to be sent to many connections, its frames encoded once
/// and shared by every server-side connection that sends them alike.
///
/// [`Connection::send_prepared`](crate::Connection::send_prepared) queues a reference to the
/// same bytes on each connection instead of framing (and compressing) the message again for
/// each. The encoding depends on a connection's [`max_frame_size`](crate::Config) and on how
/// its extensions transform a message on its own, so a prepared message keeps one encoding
/// per distinct combination, made on first use (a broadcast usually needs one or two):
///
/// - without extensions, the frames are the same for every server-side connection;
/// - with permessage-deflate where the server resets its compressor after each message
///   (`server_no_context_takeover` agreed), the message is compressed once per compression
///   setting (level, window, threshold) and shared;
/// - with context takeover, each message's compressed bytes depend on that connection's
///   earlier messages, so it is compressed for that connection as
///   [`send_binary`](crate::Connection::send_binary) would; likewise on a client-side
///   connection, whose frames must be masked with keys of its own. Nothing is shared then,
///   but the result on the wire is the same.
///
/// Cloning is cheap: clones share the payload and the encodings.
///
/// ```
/// use std::time::Instant;
/// use bytes::Buf;
/// use wsio_proto::{Config, Connection, PreparedMessage, Role};
///
/// let news = PreparedMessage::text("the same news for everyone");
/// let mut first = Connection::new(Role::Server, Config::default());
/// let mut second = Connection::new(Role::Server, Config::default());
/// first.send_prepared(&news)?;
/// second.send_prepared(&news)?;
/// let (a, b) = (first.poll_transmit(), second.poll_transmit());
/// assert_eq!(a.chunk(), b.chunk());
/// # Ok::<(), wsio_proto::SendError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opcode: OpCode,
    payload: Bytes,
    /// The encodings made so far, by what they depend on.
    encodings: Mutex<Vec<(Variant, Bytes)>>,
}

/// What a server-side connection's frames for a message depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    max_frame_size: usize,
    /// How the connection's extension transforms a message on its own; `None` without one.
    extension: Option<EncodingKey>,
}

impl PreparedMessage {
    /// A text message to prepare.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::new(OpCode::Text, text.into().into_bytes())
    }

    /// A binary message to prepare.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::new(OpCode::Binary, data.into())
    }

    fn new(opcode: OpCode, payload: Bytes) -> Self {
        PreparedMessage {
            inner: Arc::new(Inner {
                opcode,
                payload,
                encodings: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The message, as a connection that cannot share the encoding sends it.
    pub fn message(&self) -> Message {
        match self.inner.opcode {
            OpCode::Text => Message::Text(Utf8Bytes::from_validated(self.inner.payload.clone())),
            _ => Message::Binary(self.inner.payload.clone()),
        }
    }

    /// Whether it is a text message (else binary).
    pub(crate) fn is_text(&self) -> bool {
        self.inner.opcode == OpCode::Text
    }

    /// The payload, as the application gave it.
    pub(crate) fn payload(&self) -> &Bytes {
        &self.inner.payload
    }

    /// The unmasked frames a server-side connection sends for this message, given its
    /// largest frame and its extension, which must be able to share (`encoding_key` is
    /// `Some`). Made on first use for each combination, then shared.
    pub(crate) fn frames(&self, max_frame_size: usize, extension: Option<&dyn Extension>) -> Bytes {
        let variant = Variant {
            max_frame_size,
            extension: extension.and_then(Extension::encoding_key),
        };
        // A panic while the lock was held left the list consistent: entries are only pushed.
        let mut encodings = self
            .inner
            .encodings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, frames)) = encodings.iter().find(|(v, _)| *v == variant) {
            return frames.clone();
        }
        let payload = &self.inner.payload;
        let encoded = extension.and_then(|extension| extension.encode_detached(payload));
        let frames = encode_frames(
            self.inner.opcode,
            encoded.as_ref().unwrap_or(payload),
            encoded.is_some(),
            max_frame_size,
        );
        encodings.push((variant, frames.clone()));
        frames
    }
}

/// The unmasked frames of one message: fragments of at most `max_frame_size` bytes, RSV1 on
/// the first if `rsv1`.
fn encode_frames(opcode: OpCode, payload: &[u8], rsv1: bool, max_frame_size: usize) -> Bytes {
    let max = max_frame_size.max(1);
    let mut out = BytesMut::with_capacity(payload.len() + 14);
    let mut chunks = payload.chunks(max).peekable();
    let mut opcode = opcode;
    let mut first = true;
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        let mut header = FrameHeader::new(opcode, chunk.len() as u64);
        header.fin = chunks.peek().is_none();
        header.rsv1 = rsv1 && first;
        header.encode(&mut out);
        out.extend_from_slice(chunk);
        if header.fin {
            return out.freeze();
        }
        opcode = OpCode::Continuation;
        first = false;
    }
}
