//! `wsio connect` against real servers on loopback: `wsio serve`'s echo, and servers written
//! here with the blocking library where a test needs one that behaves in a particular way.

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use wsio::blocking::{self, Stream};
use wsio::{DeflateConfig, Message, ServerRequest};

mod support;

use support::{LIMIT, Lines, Served, closed_port, finish, run, spawn};

#[test]
fn lines_go_out_as_text_and_come_back_one_per_line() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    // With --reconnect the input ends before the first connection opens: the lines are sent
    // once one is, and then it is closed.
    for extra in [&[][..], &["--reconnect"]] {
        let output = run(
            &[&["connect"], extra, &[&url]].concat(),
            b"one\ntwo\r\n\nthree",
        );
        assert_eq!(output.code(), Some(0), "{extra:?}: {output:?}");
        assert_eq!(output.stdout_text(), "one\ntwo\n\nthree\n", "{extra:?}");
        assert!(output.stderr.contains("closed: 1000"), "{}", output.stderr);
    }
}

/// `--http2` opens the WebSocket as a stream of an HTTP/2 connection: in cleartext, and over
/// TLS with ALPN h2; a server that does not speak HTTP/2 is unreachable (exit 3).
#[test]
fn http2_carries_the_session_in_cleartext_and_over_tls() {
    let served = Served::start(&["-v"]);
    let output = run(
        &["connect", "--http2", &format!("{}/echo", served.url)],
        b"over h2c",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "over h2c\n");

    let (cert, key) = support::pem_certificate("connect-http2");
    let served = Served::start(&["--cert", &cert, "--key", &key]);
    let url = format!("{}/echo", served.url);
    let output = run(&["connect", "--http2", "-k", &url], b"over h2 and TLS");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "over h2 and TLS\n");

    // The blocking server speaks HTTP/1.1 only.
    let (url, _server) = inspecting_server();
    let output = run(&["connect", "--http2", &url], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
}

#[test]
fn binary_messages_print_as_length_and_hex_or_raw() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let output = run(&["connect", "--binary", &url], b"ab\n\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(
        output.stdout_text(),
        "[binary 2 bytes] 6162\n[binary 0 bytes]\n"
    );

    let bytes = b"\x00\xff\nbinary\r\n";
    let output = run(
        &["connect", "--binary", "--one-message", "--raw", &url],
        bytes,
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout, bytes);
}

/// A server that answers each message with its kind and length, after a first line telling
/// what the handshake carried.
fn inspecting_server() -> (String, blocking::ServerHandle) {
    start(
        blocking::Server::builder()
            .subprotocol("chat.v2", inspect)
            .fallback(inspect),
    )
}

/// Runs a blocking server on a free loopback port, on a thread of its own: its URL, and the
/// handle that stops it.
fn start(builder: blocking::ServerBuilder) -> (String, blocking::ServerHandle) {
    let server = builder.bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let handle = server.handle();
    thread::spawn(move || server.run());
    (url, handle)
}

fn inspect(mut ws: blocking::WebSocket<Stream>, request: ServerRequest) {
    let headers = request.request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .map_or("-", |value| value.to_str().unwrap())
            .to_owned()
    };
    let first = format!(
        "protocol={} origin={} x-token={}",
        request.subprotocol.as_deref().unwrap_or("-"),
        header("origin"),
        header("x-token"),
    );
    if ws.send_text(first).is_err() {
        return;
    }
    while let Ok(message) = ws.recv() {
        let reply = match &message {
            Message::Text(text) => format!("text {}", text.len()),
            Message::Binary(data) => format!("binary {}", data.len()),
            Message::Close(_) => break,
            _ => continue,
        };
        if ws.send_text(reply).is_err() {
            break;
        }
    }
}

#[test]
fn headers_subprotocols_and_origin_reach_the_server() {
    let (url, handle) = inspecting_server();
    let output = run(
        &[
            "connect",
            "-H",
            "X-Token: secret",
            "-p",
            "chat.v1",
            "--protocol",
            "chat.v2",
            "--origin",
            "http://example.test",
            &url,
        ],
        b"",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(
        output.stdout_text(),
        "protocol=chat.v2 origin=http://example.test x-token=secret\n"
    );
    handle.close();
}

#[test]
fn one_message_sends_the_whole_input_at_once() {
    let (url, handle) = inspecting_server();
    let output = run(&["connect", "--one-message", &url], b"a\nb\nc\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text().lines().nth(1), Some("text 6"));
    let output = run(&["connect", "--binary", &url], b"xy\nz\n");
    let lines: Vec<_> = output
        .stdout_text()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(lines, ["binary 2", "binary 1"]);
    handle.close();
}

#[test]
fn input_that_is_not_utf8_is_refused_in_text_mode() {
    let (url, handle) = inspecting_server();
    let output = run(&["connect", &url], b"fine\n\xff\xfe\n");
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(
        output.stderr.contains("line 2 is not UTF-8"),
        "{}",
        output.stderr
    );
    // What came before the bad line was sent, and the connection closed properly.
    assert_eq!(output.stdout_text().lines().nth(1), Some("text 4"));
    assert!(output.stderr.contains("closed: 1000"), "{}", output.stderr);
    handle.close();
}

#[test]
fn exit_statuses_tell_usage_unreachable_and_unclean_apart() {
    // Usage: clap's own errors, and a URL that is not a WebSocket URL.
    assert_eq!(run(&["connect"], b"").code(), Some(2));
    assert_eq!(
        run(&["connect", "--no-such-flag", "ws://x"], b"").code(),
        Some(2)
    );
    assert_eq!(
        run(&["connect", "-H", "nocolon", "ws://x"], b"").code(),
        Some(2)
    );
    let output = run(&["connect", "http://127.0.0.1/"], b"");
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(
        output.stderr.starts_with("wsio: error: "),
        "{}",
        output.stderr
    );

    // Unreachable: nothing listens.
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let output = run(&["connect", &url], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");

    // Unclean: the server accepts, then drops TCP without a close frame.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let ws = blocking::accept(tcp).unwrap();
        drop(ws);
    });
    let output = run(&["connect", &url], b"");
    server.join().unwrap();
    assert_eq!(output.code(), Some(1), "{output:?}");
    assert!(
        output.stderr.contains("without a close handshake"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_refused_handshake_is_unreachable() {
    let served = Served::start(&[]);
    let output = run(&["connect", &format!("{}/nowhere", served.url)], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
    assert!(output.stderr.contains("404"), "{}", output.stderr);
}

/// A server that says hello, then reports the close code its client sent.
fn reporting_server() -> (String, blocking::ServerHandle, mpsc::Receiver<Option<u16>>) {
    let (tx, rx) = mpsc::channel();
    let (url, handle) = start(blocking::Server::builder().fallback(
        move |mut ws: blocking::WebSocket<Stream>, _| {
            ws.send_text("hello").unwrap();
            while !matches!(ws.recv(), Ok(Message::Close(_)) | Err(_)) {}
            let code = ws.close_info().map(|info| u16::from(info.code));
            let _ = tx.send(code);
        },
    ));
    (url, handle, rx)
}

#[test]
fn ctrl_c_closes_with_1001_and_exits_130() {
    let (url, handle, codes) = reporting_server();
    for reconnect in [false, true] {
        let flags: &[&str] = if reconnect { &["--reconnect"] } else { &[] };
        let mut child = spawn(&[&["connect", url.as_str()], flags].concat());
        let stdin = child.stdin.take().unwrap(); // kept open: only Ctrl-C ends it
        let lines = Lines::new(child.stdout.take().unwrap());
        assert_eq!(lines.next(), "hello");
        support::signal(&child, "INT");
        let output = finish(child);
        drop(stdin);
        assert_eq!(output.code(), Some(130), "{output:?}");
        assert_eq!(codes.recv_timeout(LIMIT).unwrap(), Some(1001));
    }
    handle.close();
}

#[test]
fn reconnect_carries_on_across_a_server_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (received_tx, received) = mpsc::channel();
    let start = move || {
        let received_tx = received_tx.clone();
        let server = blocking::Server::builder()
            .fallback(move |mut ws: blocking::WebSocket<Stream>, _| {
                // The reconnecting client's pings arrive too; the loop ends with the close.
                while let Ok(message) = ws.recv() {
                    if let Message::Text(text) = message {
                        let _ = received_tx.send(text.to_string());
                        let _ = ws.send_text(format!("got {text}"));
                    }
                }
            })
            .bind(addr)
            .unwrap();
        let handle = server.handle();
        (handle, thread::spawn(move || server.run()))
    };
    let first = start.clone()();
    let mut child = spawn(&["connect", "--reconnect", &format!("ws://{addr}/")]);
    let mut stdin = child.stdin.take().unwrap();
    let lines = Lines::new(child.stdout.take().unwrap());
    stdin.write_all(b"one\n").unwrap();
    assert_eq!(received.recv_timeout(LIMIT).unwrap(), "one");
    assert_eq!(lines.next(), "got one");

    first.0.close(); // 1001 to the client, which reconnects
    first.1.join().unwrap().unwrap(); // the port is free again
    let second = start();
    stdin.write_all(b"two\n").unwrap();
    assert_eq!(received.recv_timeout(LIMIT).unwrap(), "two");
    assert_eq!(lines.next(), "got two");
    drop(stdin);
    let output = finish(child);
    let stderr = output.stderr;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("closed: 1001"), "{stderr}");
    assert!(stderr.contains("closed: 1000"), "{stderr}");
    second.0.close();
}

/// A server that accepts permessage-deflate, says first what the handshake agreed
/// (`deflate=PARAMETERS` or `deflate=-`), then echoes text.
fn compressing_server() -> (String, blocking::ServerHandle) {
    start(
        blocking::Server::builder()
            .deflate(DeflateConfig::default())
            .fallback(|mut ws: blocking::WebSocket<Stream>, _| {
                let agreed = ws.negotiated().deflate.map(|params| params.to_string());
                let first = format!("deflate={}", agreed.as_deref().unwrap_or("-"));
                if ws.send_text(first).is_err() {
                    return;
                }
                while let Ok(message) = ws.recv() {
                    if let Message::Text(text) = message {
                        if ws.send_text(text).is_err() {
                            return;
                        }
                    }
                }
            }),
    )
}

#[test]
fn deflate_is_offered_on_request_and_agreed() {
    let (url, handle) = compressing_server();
    for args in [
        &["connect", "--deflate"][..],
        &["connect", "--reconnect", "--deflate"],
    ] {
        let output = run(&[args, &[url.as_str()]].concat(), b"squeeze me\n");
        assert_eq!(output.code(), Some(0), "{args:?}: {output:?}");
        let stdout = output.stdout_text();
        let (first, echoed) = stdout.split_once('\n').unwrap();
        assert!(
            first.starts_with("deflate=permessage-deflate"),
            "{args:?}: {stdout}"
        );
        assert_eq!(echoed, "squeeze me\n", "{args:?}");
        assert!(!output.stderr.contains("declined"), "{output:?}");
    }
    // Without the flag, nothing is offered.
    let output = run(&["connect", &url], b"plain\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "deflate=-\nplain\n");
    handle.close();
}

#[test]
fn a_server_that_declines_deflate_gets_a_warning_and_plain_messages() {
    let served = Served::start(&["--no-deflate"]);
    let url = format!("{}/echo", served.url);
    let output = run(&["connect", "--deflate", &url], b"hi\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "hi\n");
    assert!(
        output
            .stderr
            .contains("warning: the server declined permessage-deflate"),
        "{}",
        output.stderr
    );
    let output = run(&["connect", "--deflate", "--quiet", &url], b"hi\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stderr, "");
}

#[test]
fn help_lists_the_exit_statuses() {
    let output = run(&["connect", "--help"], b"");
    assert_eq!(output.code(), Some(0));
    let help = output.stdout_text();
    for needle in [
        "Exit status:",
        "130",
        "--reconnect",
        "--one-message",
        "--raw",
        "--deflate",
    ] {
        assert!(help.contains(needle), "{needle} missing from\n{help}");
    }
    // Piped output has no colour codes.
    assert!(!help.contains('\x1b'));
}

#[test]
fn received_lines_have_no_colour_when_piped() {
    let served = Served::start(&[]);
    let output = run(
        &["connect", "--binary", &format!("{}/echo", served.url)],
        b"x\n",
    );
    assert!(!output.stdout.contains(&0x1b), "{output:?}");
    assert!(!output.stderr.contains('\x1b'), "{output:?}");
}
