//! A proxy's tunnel for the blocking front-end: the exchange [`crate::proxy`] writes once, as
//! async code, run over a blocking stream whose every read and write completes at once.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stream::{BlockingStream, is_timeout};
use crate::error::{Error, Phase, Result};
use crate::proxy::{Proxy, Target};

/// Asks `proxy`, at the other end of `io`, for a tunnel to `target`, blocking until it
/// answers or `deadline` passes ([`Error::Timeout`] of the connect phase). The stream's
/// timeouts are left at whatever the last step set.
pub(super) fn handshake<S: BlockingStream>(
    io: &mut S,
    proxy: &Proxy,
    target: Target<'_>,
    max_response: usize,
    deadline: Instant,
) -> Result<()> {
    let mut ready = Ready { io, deadline };
    let mut exchange = pin!(crate::proxy::handshake(
        &mut ready,
        proxy,
        target,
        max_response
    ));
    let mut cx = Context::from_waker(Waker::noop());
    // Every read and write below completes before it returns, so the exchange never waits
    // for a wake-up; polling again covers a future that yields anyway.
    loop {
        if let Poll::Ready(result) = exchange.as_mut().poll(&mut cx) {
            return result;
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(Phase::Connect));
        }
    }
}

/// A blocking stream as an async one that is always ready: each poll blocks until its read or
/// write is done, within the deadline.
struct Ready<'a, S> {
    io: &'a mut S,
    deadline: Instant,
}

impl<S: BlockingStream> Ready<'_, S> {
    /// Runs `step` until it is done, retrying the timeouts and "not yet"s of a step that waited
    /// (a TLS record in pieces) until the deadline.
    fn until_done<T>(
        &mut self,
        mut step: impl FnMut(&mut S, std::time::Duration) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
            }
            match step(self.io, left) {
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

impl<S: BlockingStream> AsyncRead for Ready<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = self.get_mut().until_done(|io, left| {
            io.set_read_timeout(Some(left))?;
            io.read(buf.initialize_unfilled())
        });
        read.map_ok(|n| buf.advance(n))
    }
}

impl<S: BlockingStream> AsyncWrite for Ready<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().until_done(|io, left| {
            io.set_write_timeout(Some(left))?;
            io.write(data)
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().until_done(|io, left| {
            io.set_write_timeout(Some(left))?;
            io.flush()
        })
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
