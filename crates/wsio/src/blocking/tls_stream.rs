//! TLS over a TCP stream (or another blocking stream) for the blocking front-end, stepped one
//! socket read at a time.
//!
//! A peer may send a TLS record a byte at a time. Reading until a whole record is in would let
//! it stretch one read past the read timeout, as long as each byte comes within it; so a read
//! here reads from the socket once and, when that brought only part of a record, says "not
//! yet" with an error of kind `WouldBlock`, which the callers' loops retry within their own
//! deadlines. Handshakes run the same steps under one deadline.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::ops::DerefMut;
use std::time::{Duration, Instant};

use rustls::{ConnectionCommon, SideData, Writer};

use super::stream::{BlockingStream, is_timeout, timeout_or};
use crate::error::{Error, Phase, Result};

/// A rustls connection `C` (a [`rustls::ClientConnection`] or a [`rustls::ServerConnection`])
/// over a TCP stream, for the blocking front-end: what [`Stream::Tls`](super::Stream::Tls) and
/// [`Stream::ServerTls`](super::Stream::ServerTls) hold. `T`, the stream underneath, is a
/// [`TcpStream`] unless said otherwise: TLS to a server through an `https://` proxy runs over
/// the TLS stream to the proxy ([`Stream::TlsInTls`](super::Stream::TlsInTls)).
///
/// Unlike [`rustls::StreamOwned`], a read never waits past the socket's read timeout however
/// the peer cuts its records:
///
/// - A read first returns plaintext already decrypted. Otherwise it sends what rustls has to
///   send (handshake messages, alerts, data left over from a write that timed out), reads from
///   the socket once, and returns the plaintext that completed, if any.
/// - With a read timeout set, a read that brought only part of a record (or records without
///   data, such as session tickets) fails with an error of kind
///   [`WouldBlock`](io::ErrorKind::WouldBlock), as a timed-out read does: the caller tries
///   again within its own deadline, and nothing is lost. Without a read timeout, a read blocks
///   until plaintext arrives, the peer closes, or the connection fails.
/// - A write hands plaintext to rustls, and sends rustls's records to the socket when its
///   buffer is full; [`flush`](Write::flush) sends everything, each socket write within the
///   write timeout.
///
/// The handshake runs as part of the first reads, or before the stream is handed over when
/// [`connect`](super::connect) or a blocking [`Server`](super::Server) opens it, within the
/// connect timeout or the handshake timeout. The peer closing without a `close_notify` alert
/// is an error of kind `UnexpectedEof`; a TLS error is an error of kind `InvalidData` that
/// carries the [`rustls::Error`].
///
/// ```no_run
/// use std::net::TcpStream;
/// use std::sync::Arc;
/// use wsio::blocking::{Stream, TlsStream};
///
/// # fn config() -> Arc<wsio::rustls::ServerConfig> { unimplemented!() }
/// let listener = std::net::TcpListener::bind("127.0.0.1:9443")?;
/// let (tcp, _) = listener.accept()?;
/// let conn = wsio::rustls::ServerConnection::new(config()).expect("a server configuration");
/// let mut ws = wsio::blocking::accept(Stream::ServerTls(Box::new(TlsStream::new(conn, tcp))))?;
/// ws.send_text("hello over TLS")?;
/// # Ok::<(), wsio::Error>(())
/// ```
#[derive(Debug)]
pub struct TlsStream<C, T = TcpStream> {
    conn: C,
    io: T,
}

impl<C, S, T> TlsStream<C, T>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
    T: BlockingStream,
{
    /// Runs `conn` over `io`. No I/O happens here: the handshake runs as part of the first
    /// reads and flushes.
    pub fn new(conn: C, io: T) -> Self {
        TlsStream { conn, io }
    }

    /// The rustls connection: the peer's certificates, the ALPN protocol agreed, and so on.
    pub fn connection(&self) -> &C {
        &self.conn
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Runs the handshake to its end by `deadline`, however slowly the peer sends: each socket
    /// read and write may take only the time left. A handshake that does not end in time is
    /// [`Error::Timeout`] of `phase`; one that fails is [`Error::Tls`], or [`Error::Io`] when
    /// the connection does (the peer closing it, for one).
    ///
    /// The socket's timeouts are left at whatever the last step set.
    pub(crate) fn handshake(&mut self, deadline: Instant, phase: Phase) -> Result<()> {
        self.drive_handshake(deadline)
            .map_err(|error| match crate::tls::map_io_error(error) {
                Error::Io(error) => timeout_or(error, phase),
                other => other,
            })
    }

    fn drive_handshake(&mut self, deadline: Instant) -> io::Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // What is queued goes out first, the last flight included (a client's Finished, a
            // server's session tickets).
            if self.conn.wants_write() {
                self.io.set_write_timeout(Some(left))?;
                self.send_some()?;
                continue;
            }
            if !self.conn.is_handshaking() {
                return Ok(());
            }
            self.io.set_read_timeout(Some(left))?;
            match self.receive() {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads from the socket once and processes what came: how many bytes were read, 0 when
    /// the peer closed. A TLS error comes as an error of kind `InvalidData` carrying it, after
    /// the alert rustls queued for it is sent if the socket takes it.
    fn receive(&mut self) -> io::Result<usize> {
        let n = self.conn.read_tls(&mut self.io)?;
        if let Err(error) = self.conn.process_new_packets() {
            let _ = self.conn.write_tls(&mut self.io);
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        Ok(n)
    }

    /// Writes once some of what rustls has queued.
    fn send_some(&mut self) -> io::Result<()> {
        match self.conn.write_tls(&mut self.io) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Writes all that rustls has queued, each socket write within the write timeout.
    fn send_all(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.send_some()?;
        }
        Ok(())
    }

    /// One step of a read that found no plaintext: sends what is queued, then reads from the
    /// socket once, all within the socket's read timeout.
    ///
    /// Sending waits at most the smaller of the two timeouts, and a send that times out is no
    /// error here: a peer that sends without reading still has its data read, and the rest
    /// goes out later. The read then gets what is left of the read timeout.
    fn step(&mut self) -> io::Result<usize> {
        if !self.conn.wants_write() {
            return self.receive();
        }
        let read_limit = self.io.read_timeout()?;
        let write_limit = self.io.write_timeout()?;
        let started = Instant::now();
        self.io
            .set_write_timeout(smaller(read_limit, write_limit))?;
        let sent = self.send_all();
        self.io.set_write_timeout(write_limit)?;
        match sent {
            Err(e) if is_timeout(&e) => {}
            other => other?,
        }
        let Some(limit) = read_limit else {
            return self.receive();
        };
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(not_yet());
        }
        self.io.set_read_timeout(Some(left))?;
        let received = self.receive();
        self.io.set_read_timeout(read_limit)?;
        received
    }

    /// Hands plaintext to rustls through `take`, sending queued records first while its buffer
    /// is full: how many bytes it took.
    fn take_plaintext(
        &mut self,
        empty: bool,
        mut take: impl FnMut(&mut Writer<'_>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if empty {
            return Ok(0);
        }
        loop {
            let n = take(&mut self.conn.writer())?;
            if n > 0 {
                return Ok(n);
            }
            if !self.conn.wants_write() {
                // Plaintext written before the handshake ends waits in rustls, which holds
                // only so much: only reads, which run the handshake, make room.
                return Err(not_yet());
            }
            self.send_some()?;
        }
    }
}

/// The "not yet" of a read whose record is not complete: a timeout's kind, so that callers
/// retry it within their deadlines.
fn not_yet() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "TLS record not complete yet")
}

/// The smaller of two timeouts, `None` being no limit.
fn smaller(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<C, S, T> Read for TlsStream<C, T>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
    T: BlockingStream,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            // Plaintext already decrypted; 0 once the peer sent close_notify; UnexpectedEof
            // once it closed without.
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            self.step()?;
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            // Only part of a record came. With a read timeout the caller decides whether its
            // time is up; without one, the read goes on blocking.
            if self.io.read_timeout()?.is_some() {
                return Err(not_yet());
            }
        }
    }
}

impl<C, S, T> Write for TlsStream<C, T>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
    T: BlockingStream,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.take_plaintext(buf.is_empty(), |writer| writer.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let empty = bufs.iter().all(|buf| buf.is_empty());
        self.take_plaintext(empty, |writer| writer.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_all()?;
        self.io.flush()
    }
}

impl<C, S, T> BlockingStream for TlsStream<C, T>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
    T: BlockingStream,
{
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_write_timeout(timeout)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.io.read_timeout()
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.io.write_timeout()
    }

    /// Says so in a `close_notify` alert, sends everything queued, then shuts down the
    /// writing side of the stream underneath.
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.io.shutdown_write()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

    use super::TlsStream;
    use crate::blocking::BlockingStream;
    use crate::error::{Error, Phase};

    /// A client and a server TLS stream on 127.0.0.1, their handshake done.
    fn pair() -> (TlsStream<ClientConnection>, TlsStream<ServerConnection>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let server_config = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.into())
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || {
            let name = ServerName::try_from("localhost").unwrap();
            let conn = ClientConnection::new(Arc::new(client_config), name).unwrap();
            let mut client = TlsStream::new(conn, TcpStream::connect(addr).unwrap());
            let deadline = Instant::now() + Duration::from_secs(10);
            client.handshake(deadline, Phase::Connect).unwrap();
            client
        });
        let conn = ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut server = TlsStream::new(conn, listener.accept().unwrap().0);
        let deadline = Instant::now() + Duration::from_secs(10);
        server.handshake(deadline, Phase::Handshake).unwrap();
        let mut client = client.join().unwrap();
        for stream in [&mut client as &mut dyn BlockingStream, &mut server] {
            stream.set_read_timeout(None).unwrap();
            stream.set_write_timeout(None).unwrap();
        }
        (client, server)
    }

    /// The TLS record `server` would send for `data`, not sent.
    fn record(server: &mut TlsStream<ServerConnection>, data: &[u8]) -> Vec<u8> {
        server.flush().unwrap();
        server.conn.writer().write_all(data).unwrap();
        let mut record = Vec::new();
        while server.conn.wants_write() {
            server.conn.write_tls(&mut record).unwrap();
        }
        record
    }

    fn read_all(client: &mut TlsStream<ClientConnection>, len: usize) -> Vec<u8> {
        let mut data = vec![0u8; len];
        client.read_exact(&mut data).unwrap();
        data
    }

    #[test]
    fn close_notify_reads_as_the_end_and_an_eof_without_it_as_unexpected_eof() {
        let (mut client, mut server) = pair();
        server.write_all(b"bye").unwrap();
        server.shutdown_write().unwrap();
        assert_eq!(read_all(&mut client, 3), b"bye");
        assert_eq!(client.read(&mut [0u8; 16]).unwrap(), 0);

        let (mut client, mut server) = pair();
        server.write_all(b"cut").unwrap();
        server.flush().unwrap();
        server.io.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_all(&mut client, 3), b"cut");
        let error = client.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn part_of_a_record_is_not_yet_with_a_read_timeout_and_waited_for_without() {
        let (mut client, mut server) = pair();
        let record = record(&mut server, b"in two halves");
        let (first, second) = record.split_at(record.len() / 2);

        // With a read timeout: "not yet" as soon as the first half is in, then the data.
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (&server.io).write_all(first).unwrap();
        let started = Instant::now();
        let error = client.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        (&server.io).write_all(second).unwrap();
        assert_eq!(read_all(&mut client, 13), b"in two halves");

        // Without one: the read waits for the whole record.
        client.set_read_timeout(None).unwrap();
        let mut record = self::record(&mut server, b"whole");
        let second = record.split_off(record.len() / 2);
        let sender = thread::spawn(move || {
            (&server.io).write_all(&record).unwrap();
            thread::sleep(Duration::from_millis(100));
            (&server.io).write_all(&second).unwrap();
            server
        });
        assert_eq!(read_all(&mut client, 5), b"whole");
        drop(sender.join().unwrap());
    }

    #[test]
    fn a_record_that_does_not_decrypt_is_a_tls_error() {
        let (mut client, server) = pair();
        // Application data under keys the client does not have.
        let mut bogus = vec![0x17, 0x03, 0x03, 0x00, 0x20];
        bogus.extend([0u8; 32]);
        (&server.io).write_all(&bogus).unwrap();
        let error = client.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            matches!(crate::tls::map_io_error(error), Error::Tls(_)),
            "a rustls error inside"
        );
    }
}
