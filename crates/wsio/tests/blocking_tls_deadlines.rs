//! The blocking front-end's deadlines hold over TLS when the peer trickles its records one
//! byte at a time, each byte well within the socket's timeout: a read times out at its read
//! timeout and loses nothing, a blocking server drops a trickled ClientHello at its handshake
//! timeout, and a blocking client gives up on a trickled ServerHello at its connect timeout.

#![cfg(feature = "tls")]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use wsio::blocking::{self, Stream};
use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use wsio::rustls::{ClientConnection, ServerConfig, ServerConnection};
use wsio::{ClientBuilder, Config, Error, Message, Phase};

mod support;

use support::LIMIT;
use support::tls::{certificate, provider, trusting};

/// How long a trickling peer waits between two bytes: well within every timeout here.
const TRICKLE: Duration = Duration::from_millis(100);

/// How many bytes of a handshake flight a trickling peer sends before it stalls: 5 s of
/// trickle, ten times the handshake and connect timeouts below.
const TRICKLED_BYTES: usize = 50;

/// How far past its timeout an operation may end, for a loaded two-core machine: three times
/// the timeout, still far below the trickles' seconds.
const SLACK: u32 = 3;

fn server_config(cert: &CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    Arc::new(config)
}

/// A blocking `wss://` echo server on 127.0.0.1 with `config`: its address, a handle to
/// stop it, and its thread.
fn tls_echo_server(
    cert: &CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    config: Config,
) -> (
    SocketAddr,
    blocking::ServerHandle,
    thread::JoinHandle<std::io::Result<()>>,
) {
    let server = blocking::Server::builder()
        .config(config)
        .tls(server_config(cert, key))
        .fallback(|mut ws: blocking::WebSocket<Stream>, _| {
            while let Ok(message) = ws.recv() {
                if message.is_data() && ws.send(message).is_err() {
                    return;
                }
            }
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    (addr, handle, thread::spawn(move || server.run()))
}

/// A TCP relay for one connection, in front of `upstream`, that forwards what the server
/// sends one byte every [`TRICKLE`] while its switch is on.
struct Relay {
    port: u16,
    trickle: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let trickle = Arc::new(AtomicBool::new(false));
        let switch = trickle.clone();
        let thread = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let server = TcpStream::connect(upstream).unwrap();
            let (client_side, server_side) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up = thread::spawn(move || pump(client, server, &AtomicBool::new(false)));
            pump(server_side, client_side, &switch);
            up.join().unwrap();
        });
        Relay {
            port,
            trickle,
            thread,
        }
    }
}

/// Forwards `from` to `to` until either ends, one byte at a time while `trickle` is on.
fn pump(mut from: TcpStream, mut to: TcpStream, trickle: &AtomicBool) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let forwarded = if trickle.load(Ordering::Acquire) {
            buf[..n].iter().try_for_each(|byte| {
                thread::sleep(TRICKLE);
                to.write_all(&[*byte])
            })
        } else {
            to.write_all(&buf[..n])
        };
        if forwarded.is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// How a trickling peer's connection ended: when, and how many bytes the other side wrote.
struct Closed {
    after: Duration,
    received: usize,
}

/// Writes `bytes` to `tcp` one every [`TRICKLE`], then waits, until the peer closes the
/// connection or [`LIMIT`] passes: how it ended, if it did.
fn trickle_until_closed(tcp: &mut TcpStream, bytes: &[u8], started: Instant) -> Option<Closed> {
    tcp.set_read_timeout(Some(TRICKLE)).unwrap();
    let mut bytes = bytes.iter();
    let mut sink = [0u8; 4096];
    let mut received = 0;
    let closed = |received| {
        Some(Closed {
            after: started.elapsed(),
            received,
        })
    };
    while started.elapsed() < LIMIT {
        if let Some(byte) = bytes.next() {
            if tcp.write_all(&[*byte]).is_err() {
                return closed(received);
            }
        }
        // Waits one trickle step, noticing the peer's close (FIN or reset) meanwhile.
        match tcp.read(&mut sink) {
            Ok(0) => return closed(received),
            Ok(n) => received += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return closed(received),
        }
    }
    None
}

/// Whether an operation that took `elapsed` ended within [`SLACK`] times its `timeout`.
fn within(elapsed: Duration, timeout: Duration) -> bool {
    elapsed < timeout * SLACK
}

/// A client reads with a 300 ms read timeout while the server's answer, one TLS record, comes
/// in one byte every 100 ms (about 4 s): each read times out at about 300 ms instead of
/// waiting for the whole record, and once the record is in the message is received whole.
#[test]
fn a_read_times_out_while_a_record_trickles_in_and_loses_nothing() {
    const READ_TIMEOUT: Duration = Duration::from_millis(300);
    let (cert, key) = certificate();
    let (addr, handle, server) = tls_echo_server(&cert, key, Config::default());
    let relay = Relay::start(addr);
    let url = format!("wss://localhost:{}/", relay.port);
    let (mut ws, _) = ClientBuilder::new(&url)
        .unwrap()
        .tls_config(trusting(&cert))
        .connect_blocking()
        .unwrap();
    ws.set_read_timeout(Some(READ_TIMEOUT));
    // From now on the server's records come in one byte at a time: the echo's 22 bytes of
    // frame make a TLS record of about 45 bytes.
    relay.trickle.store(true, Ordering::Release);
    let text = "one byte at a time...";
    ws.send_text(text).unwrap();

    let started = Instant::now();
    let mut timeouts = 0;
    let mut longest = Duration::ZERO;
    let message = loop {
        let call = Instant::now();
        match ws.recv() {
            Err(Error::Timeout(Phase::Read)) => {
                let took = call.elapsed();
                assert!(
                    within(took, READ_TIMEOUT),
                    "a read with a {READ_TIMEOUT:?} timeout took {took:?}"
                );
                timeouts += 1;
                longest = longest.max(took);
            }
            Ok(message) => {
                assert!(
                    timeouts > 0,
                    "the first read waited {:?} for the whole record instead of timing out \
                     after {READ_TIMEOUT:?}",
                    call.elapsed()
                );
                break message;
            }
            Err(error) => panic!("{error:?}"),
        }
        assert!(started.elapsed() < LIMIT, "the record never arrived");
    };
    assert_eq!(message, Message::text(text));
    eprintln!(
        "{timeouts} reads timed out (the longest after {longest:?}) before the record was in, \
         after {:?}",
        started.elapsed()
    );
    // The record took seconds to arrive; the reads meanwhile timed out one after another.
    assert!(
        timeouts >= 5,
        "{timeouts} timeouts in {:?}",
        started.elapsed()
    );

    drop(ws);
    relay.thread.join().unwrap();
    handle.close();
    server.join().unwrap().unwrap();
}

/// A client sends its ClientHello one byte every 100 ms to a blocking TLS server whose
/// handshake timeout is 500 ms: the server drops the connection at about 500 ms, not when
/// the trickle ends 5 s later.
#[test]
fn a_blocking_tls_server_drops_a_trickled_client_hello_at_the_handshake_timeout() {
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
    let (cert, key) = certificate();
    let config = Config::default().handshake_timeout(HANDSHAKE_TIMEOUT);
    let (addr, handle, server) = tls_echo_server(&cert, key, config);

    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(trusting(&cert), name).unwrap();
    let mut hello = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut hello).unwrap();
    }
    assert!(hello.len() > TRICKLED_BYTES, "{} bytes", hello.len());

    let mut tcp = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let closed = trickle_until_closed(&mut tcp, &hello[..TRICKLED_BYTES], started);
    let closed = closed.expect("the server never closed the connection");
    let after = closed.after;
    eprintln!("the server dropped a trickled ClientHello after {after:?}");
    assert!(
        within(after, HANDSHAKE_TIMEOUT),
        "the server dropped a trickled ClientHello after {after:?}, its handshake timeout \
         being {HANDSHAKE_TIMEOUT:?}"
    );
    // It had nothing to answer a ClientHello it never completed with.
    assert_eq!(closed.received, 0);

    drop(tcp);
    handle.close();
    server.join().unwrap().unwrap();
}

/// A server sends its first flight (ServerHello to Finished) one byte every 100 ms to a
/// blocking client whose connect timeout is 500 ms: the client gives up with
/// `Timeout(Connect)` at about 500 ms, not when the trickle ends 5 s later.
#[test]
fn a_blocking_tls_client_gives_up_on_a_trickled_server_hello_at_the_connect_timeout() {
    const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
    let (cert, key) = certificate();
    let config = server_config(&cert, key);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers the ClientHello as a TLS server does, one byte at a time, until the client
    // leaves.
    let peer = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut conn = ServerConnection::new(config).unwrap();
        while !conn.wants_write() {
            if conn.read_tls(&mut tcp).unwrap() == 0 {
                return None;
            }
            conn.process_new_packets().unwrap();
        }
        let mut flight = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut flight).unwrap();
        }
        assert!(flight.len() > TRICKLED_BYTES, "{} bytes", flight.len());
        trickle_until_closed(&mut tcp, &flight[..TRICKLED_BYTES], Instant::now())
    });

    let started = Instant::now();
    let error = ClientBuilder::new(&format!("wss://localhost:{port}/"))
        .unwrap()
        .tls_config(trusting(&cert))
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_blocking()
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("the client gave up on a trickled ServerHello after {took:?}: {error}");
    assert!(
        matches!(error, Error::Timeout(Phase::Connect)),
        "{error:?} after {took:?}"
    );
    assert!(
        within(took, CONNECT_TIMEOUT),
        "the client gave up on a trickled ServerHello after {took:?}, its connect timeout \
         being {CONNECT_TIMEOUT:?}"
    );
    assert!(peer.join().unwrap().is_some(), "the client never left");
}
