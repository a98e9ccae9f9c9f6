//! Regression tests for bugs a review found in `wsio::blocking`, each named after what broke.

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsio::blocking::{self, Stream};
use wsio::{Error, Message, Phase};

fn echo_once() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        while let Ok(message) = ws.recv() {
            if message.is_data() && ws.send(message).is_err() {
                return;
            }
        }
    });
    format!("ws://{addr}")
}

/// A zero read timeout ("poll") never read the socket: the echoed message never arrived.
#[test]
fn a_zero_read_timeout_never_read() {
    let url = echo_once();
    let (mut ws, _) = blocking::connect(&url).unwrap();
    ws.send_text("hi").unwrap();
    thread::sleep(Duration::from_millis(200)); // the echo is in our socket buffer by now
    ws.set_read_timeout(Some(Duration::ZERO));
    let mut got = None;
    for _ in 0..50 {
        match ws.recv() {
            Ok(message) => {
                got = Some(message);
                break;
            }
            Err(Error::Timeout(Phase::Read)) => thread::sleep(Duration::from_millis(10)),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        Some(Message::text("hi")),
        "recv with a zero timeout never read"
    );
}

/// `close` called before `run` had stored its wake-up address left `run` blocked in
/// `accept` until some client happened to connect.
#[test]
fn close_before_run_left_run_blocked_in_accept() {
    let server = blocking::Server::builder()
        .fallback(|_, _| {})
        .bind("127.0.0.1:0")
        .unwrap();
    let handle = server.handle();
    handle.stop_accepting();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = server.run();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(3)).is_ok(),
        "run() did not return after close()"
    );
}

/// Same race as above, in the doc example's order: spawn run, then close at once.
#[test]
fn close_right_after_spawning_run_missed_the_wake_up() {
    let mut missed = 0;
    for _ in 0..50 {
        let server = blocking::Server::builder()
            .fallback(|_, _| {})
            .bind("127.0.0.1:0")
            .unwrap();
        let handle = server.handle();
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            let _ = server.run();
            let _ = done.send(());
        });
        handle.stop_accepting();
        if finished.recv_timeout(Duration::from_millis(500)).is_err() {
            missed += 1;
        }
    }
    assert_eq!(
        missed, 0,
        "run() missed the wake-up {missed} times out of 50"
    );
}

/// A peer that floods pings and never reads: the pongs filled the socket buffers and `recv`,
/// whose read timeout is 200 ms, blocked in its write for ever.
#[test]
fn recv_blocked_in_its_write_past_the_read_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tick, ticks) = mpsc::channel::<Result<(), String>>();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(200)));
        loop {
            let outcome = match ws.recv() {
                Ok(_) | Err(Error::Timeout(_)) => Ok(()),
                Err(e) => Err(format!("{e:?}")),
            };
            let stop = outcome.is_err();
            if tick.send(outcome).is_err() || stop {
                return;
            }
        }
    });
    let (ws, _) = blocking::connect(&format!("ws://{addr}")).unwrap();
    let Stream::Tcp(tcp) = ws.get_ref() else {
        unreachable!()
    };
    let mut raw = tcp.try_clone().unwrap();
    thread::spawn(move || {
        // Masked (zero key) pings of 125 bytes; never read the pongs.
        let mut frame = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
        frame.extend_from_slice(&[b'p'; 125]);
        let batch: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 1000)
            .collect();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            if raw.write_all(&batch).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match ticks.recv_timeout(Duration::from_secs(2)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("recv failed: {e}"),
            Err(_) => panic!(
                "recv with a 200 ms read timeout did not return for 2 s (after {:?})",
                started.elapsed()
            ),
        }
    }
    drop(ws);
}

/// A write that timed out inside `recv` (the rest of a frame a timed-out `send` left) was
/// reported as a raw `Error::Io(WouldBlock)`.
#[test]
fn a_write_timing_out_inside_recv_surfaced_as_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (report, reports) = mpsc::channel::<String>();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(200)));
        ws.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let sent = ws.send_binary(vec![0u8; 64 << 20]);
        let received = ws.recv();
        let _ = report.send(format!("send: {sent:?}; recv: {received:?}"));
        thread::sleep(Duration::from_secs(2));
    });
    // A client that never reads.
    let (ws, _) = blocking::connect(&format!("ws://{addr}")).unwrap();
    let outcome = reports.recv_timeout(Duration::from_secs(10)).unwrap();
    // The send times out; recv then resumes the unfinished frame within its own deadline, and
    // what cannot go out in time waits for a later call: recv times out reading, not writing.
    assert_eq!(
        outcome,
        "send: Err(Timeout(Write)); recv: Err(Timeout(Read))"
    );
    drop(ws);
}
