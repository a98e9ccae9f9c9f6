//! `wsio serve` on loopback: the echo endpoint, the chat room, the page, TLS, and shutdown on
//! SIGINT and SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;

use wsio::Message;
use wsio::blocking;

mod support;

use support::{LIMIT, Served, run};

fn text(ws: &mut blocking::WebSocket<blocking::Stream>) -> String {
    match ws.recv().unwrap() {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn connect(url: &str) -> blocking::WebSocket<blocking::Stream> {
    let (mut ws, _) = blocking::connect(url).unwrap();
    ws.set_read_timeout(Some(LIMIT));
    ws
}

#[test]
fn echo_sends_text_and_binary_back() {
    let served = Served::start(&[]);
    let mut ws = connect(&format!("{}/echo", served.url));
    ws.send_text("hello").unwrap();
    assert_eq!(text(&mut ws), "hello");
    ws.send_binary(vec![0u8, 1, 2]).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Binary(vec![0u8, 1, 2].into()));
}

#[test]
fn compression_is_accepted_unless_declined() {
    for (extra, agreed) in [(&[][..], true), (&["--no-deflate"], false)] {
        let served = Served::start(extra);
        let url = format!("{}/echo", served.url);
        let (mut ws, response) = wsio::ClientBuilder::new(&url)
            .unwrap()
            .deflate(wsio::DeflateConfig::default())
            .connect_blocking()
            .unwrap();
        ws.set_read_timeout(Some(LIMIT));
        assert_eq!(response.negotiated().deflate.is_some(), agreed, "{extra:?}");
        let long = "compressible ".repeat(100);
        ws.send_text(long.clone()).unwrap();
        assert_eq!(text(&mut ws), long);
    }
}

#[test]
fn the_chat_room_broadcasts_to_everyone() {
    let served = Served::start(&[]);
    let url = format!("{}/chat", served.url);
    let mut ana = connect(&url);
    assert!(text(&mut ana).starts_with("* welcome, guest-"));
    assert!(text(&mut ana).ends_with(" joined"));
    let mut bob = connect(&url);
    assert!(text(&mut bob).starts_with("* welcome, guest-"));
    let joined = text(&mut ana);
    assert!(joined.ends_with(" joined"), "{joined}");
    assert_eq!(text(&mut bob), joined);

    bob.send_text("/nick bob").unwrap();
    let renamed = text(&mut ana);
    assert!(renamed.ends_with(" is now bob"), "{renamed}");
    assert_eq!(text(&mut bob), renamed);
    bob.send_text("hello, room").unwrap();
    assert_eq!(text(&mut ana), "bob: hello, room");
    assert_eq!(text(&mut bob), "bob: hello, room");

    // Commands it does not know get an answer for the sender alone; binary is refused.
    bob.send_text("/dance").unwrap();
    assert!(text(&mut bob).starts_with("* unknown command"));
    bob.send_binary(vec![1u8]).unwrap();
    loop {
        match bob.recv() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1003);
                break;
            }
            Ok(_) => {}
            Err(error) => panic!("{error}"),
        }
    }
    drop(bob); // the server ends the connection once the client has gone
    assert_eq!(text(&mut ana), "* bob left");
}

#[test]
fn wsio_connect_talks_to_the_chat_room() {
    let served = Served::start(&[]);
    let url = format!("{}/chat", served.url);
    let mut watcher = connect(&url);
    text(&mut watcher); // welcome
    text(&mut watcher); // joined
    let output = run(&["connect", &url], b"/nick cli\nfrom the command line\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    let lines = output.stdout_text();
    assert!(lines.contains("cli: from the command line\n"), "{lines}");
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("* cli left") {
        seen.push(text(&mut watcher));
    }
    assert!(
        seen.contains(&"cli: from the command line".to_owned()),
        "{seen:?}"
    );
}

fn http_get(addr: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_chat_page_is_served_from_the_binary() {
    let served = Served::start(&[]);
    let page = http_get(served.addr(), "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("text/html"), "{page}");
    assert!(page.contains("<script src=\"/chat.js\""), "{page}");
    // Nothing is fetched from anywhere else.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    let script = http_get(served.addr(), "/chat.js");
    assert!(script.contains("text/javascript"), "{script}");
    assert!(script.contains("/chat"), "{script}");
    assert!(http_get(served.addr(), "/chat.css").contains("text/css"));
    assert!(http_get(served.addr(), "/missing").starts_with("HTTP/1.1 404"));
}

#[test]
fn serves_tls_with_a_pem_certificate_and_key() {
    let (cert, key) = support::pem_certificate("serve-tls");
    let served = Served::start(&["--cert", &cert, "--key", &key]);
    assert!(served.url.starts_with("wss://"), "{}", served.url);
    let url = format!("{}/echo", served.url);
    let output = run(&["connect", "-k", &url], b"secure\n");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "secure\n");
    // Without -k the self-signed certificate is refused.
    let output = run(&["connect", &url], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
    assert!(output.stderr.contains("TLS"), "{}", output.stderr);

    // A key that is not PEM is a usage error.
    let output = run(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--cert",
            &cert,
            "--key",
            "/nonexistent.pem",
        ],
        b"",
    );
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(
        output.stderr.contains("/nonexistent.pem"),
        "{}",
        output.stderr
    );
}

#[test]
fn sigint_and_sigterm_close_every_client_with_1001() {
    for name in ["INT", "TERM"] {
        let mut served = Served::start(&[]);
        let mut clients: Vec<_> = ["/echo", "/chat"]
            .iter()
            .map(|path| connect(&format!("{}{path}", served.url)))
            .collect();
        // Each is served: the echo answers, the room welcomes.
        clients[0].send_text("up").unwrap();
        assert_eq!(text(&mut clients[0]), "up");
        text(&mut clients[1]);
        support::signal(&served.child, name);
        // Each client goes once it has the server's close, as a client should.
        for mut ws in clients {
            loop {
                match ws.recv() {
                    Ok(Message::Close(Some(frame))) => {
                        assert_eq!(u16::from(frame.code), 1001, "{name}");
                        break;
                    }
                    Ok(_) => {}
                    Err(error) => panic!("{name}: {error}"),
                }
            }
        }
        let status = support::wait(&mut served.child, LIMIT);
        assert_eq!(status.code(), Some(0), "{name}");
    }
}

#[test]
fn a_busy_address_is_reported() {
    let served = Served::start(&[]);
    let output = run(&["serve", "--addr", served.addr()], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
    assert!(output.stderr.contains("cannot listen"), "{}", output.stderr);
}

#[test]
fn connections_are_logged_with_v() {
    let mut served = Served::start(&["-v"]);
    let mut ws = connect(&format!("{}/echo", served.url));
    ws.send_text("x").unwrap();
    assert_eq!(text(&mut ws), "x");
    drop(ws);
    support::signal(&served.child, "INT");
    support::wait(&mut served.child, LIMIT);
    let mut log = String::new();
    served
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("echo connected"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
}
