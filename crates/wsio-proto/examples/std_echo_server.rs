//! An echo server written directly on `wsio-proto` and `std::net`, one thread per connection.
//!
//! It shows everything a front-end does: read the handshake, answer it, then loop over the
//! connection's contract (feed input with the time it was read, fire the timers that are due,
//! drain events, write, act on the transport, wait until readable or the next timer).
//!
//! ```sh
//! cargo run --release -p wsio-proto --example std_echo_server -- 127.0.0.1:9001
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Buf;
use wsio_proto::handshake::{ServerHandshake, encode_response, encode_response_head};
use wsio_proto::{Config, Connection, Event, Message, TransportAction};

/// How long a client has to send its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("echo server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(error) = serve(stream) {
                eprintln!("connection ended with an I/O error: {error}");
            }
        });
    }
    Ok(())
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let config = Config::default();
    let mut buf = vec![0u8; 64 << 10];

    // The opening handshake.
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut handshake = ServerHandshake::with_max_head_size(config.max_handshake_size);
    let incoming = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        match handshake.receive(&buf[..n]) {
            Ok(Some(incoming)) => break incoming,
            Ok(None) => continue,
            Err(error) => return stream.write_all(&encode_response(&error.response())),
        }
    };
    // A valid request is accepted: the answer to write, and the connection, which already
    // holds what the client sent after its request.
    let accepted = incoming
        .validate()
        .and_then(|offer| offer.accept_connection(None, config, &incoming.leftover));
    let mut conn = match accepted {
        Ok((response, conn)) => {
            stream.write_all(&encode_response_head(&response))?;
            conn
        }
        Err(error) => return stream.write_all(&encode_response(&error.response())),
    };

    // The connection, driven in the order its documentation gives. The first time it is given
    // starts its clock (the keepalive interval, if one is configured).
    conn.handle_timeout(Instant::now());
    let mut read: Option<io::Result<usize>> = None;
    let mut write_shut = false;
    loop {
        let now = Instant::now();
        match read.take() {
            Some(Ok(0)) => conn.receive_eof(),
            Some(Ok(n)) => conn.receive(now, &buf[..n]),
            Some(Err(e)) if !is_timeout_or_interrupt(&e) => return Err(e),
            _ => {}
        }
        if conn.poll_timeout().is_some_and(|deadline| deadline <= now) {
            conn.handle_timeout(now);
        }
        while let Some(event) = conn.poll_event(now) {
            match event {
                Event::Message(message @ (Message::Text(_) | Message::Binary(_))) => {
                    // Only fails once the connection is closing, when echoing is moot.
                    let _ = conn.send(now, message);
                }
                Event::Closed(info) if info.error.is_some() => {
                    eprintln!("connection failed: {:?}", info.error);
                }
                _ => {}
            }
        }
        write_all(&mut stream, &mut conn)?;
        match conn.transport_action() {
            TransportAction::Close => return Ok(()),
            TransportAction::ShutdownWrite if !write_shut => {
                write_shut = true;
                stream.shutdown(Shutdown::Write)?;
            }
            _ => {}
        }
        let wait = conn.poll_timeout().map(|deadline| {
            deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(wait)?;
        read = Some(stream.read(&mut buf));
    }
}

fn is_timeout_or_interrupt(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Writes everything the connection has queued, with vectored writes. The output is asked for
/// anew after each write: writing can make room for a pong that was held back.
fn write_all(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    loop {
        let out = conn.poll_transmit();
        if !out.has_remaining() {
            return Ok(());
        }
        let mut slices = [IoSlice::new(&[]); 16];
        let count = out.chunks_vectored(&mut slices);
        let written = stream.write_vectored(&slices[..count])?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        out.advance(written);
    }
}
