//! The chat page in a real browser: `tests/peers/browser_chat.js` opens `wsio serve`'s page in
//! two pages of a headless Chromium and sees a message typed in one appear in the other, over
//! connections that Chromium's permessage-deflate offer made compressed: in cleartext over
//! HTTP/1.1, and over TLS where Chromium picks HTTP/2 and opens the WebSockets with extended
//! CONNECTs.
//! `scripts/setup-peers.sh` and `scripts/setup-browser.sh` install what it needs.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::{LIMIT, Served};

#[test]
fn two_browser_pages_chat_through_wsio_serve() {
    let log = chat_in_browser(&[], "http");
    // Over HTTP/1.1: each page's WebSocket is an upgrade.
    assert_eq!(lines(&log, "version=HTTP/1.1").len(), 2, "{log}");
}

/// Over TLS, Chromium speaks HTTP/2 to `wsio serve` (ALPN `h2`) and opens each page's
/// WebSocket on a stream of that connection with an extended CONNECT (RFC 8441), compressed.
#[test]
fn two_browser_pages_chat_over_http2_and_tls() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let tls = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let log = chat_in_browser(&tls, "https");
    assert_eq!(lines(&log, "version=HTTP/2.0").len(), 2, "{log}");
}

/// Serves the chat with `extra` arguments, has two Chromium pages chat through it at
/// `scheme://ADDRESS/`, stops the server and returns its log, after checking that both pages
/// joined the room with permessage-deflate.
fn chat_in_browser(extra: &[&str], scheme: &str) -> String {
    let mut served = Served::start(&[&["-v"], extra].concat());
    let page = format!("{scheme}://{}/", served.addr());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/browser_chat.js");
    let mut browser = Command::new("node")
        .arg(script)
        .arg(&page)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (see scripts/setup-peers.sh)");
    let stdout = browser.stdout.take().unwrap();
    let stderr = browser.stderr.take().unwrap();
    let status = support::wait(&mut browser, Duration::from_secs(90));
    let out = std::io::read_to_string(stdout).unwrap();
    let err = std::io::read_to_string(stderr).unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(out.trim(), "ok");

    support::signal(&served.child, "INT");
    support::wait(&mut served.child, LIMIT);
    let mut log = String::new();
    let mut stderr = served.child.stderr.take().unwrap();
    stderr.read_to_string(&mut log).unwrap();
    let joined = lines(&log, "joined the chat");
    assert_eq!(joined.len(), 2, "{log}");
    for line in joined {
        assert!(
            line.contains("compression=Some(\"permessage-deflate"),
            "{log}"
        );
    }
    assert_eq!(lines(&log, "chat requested").len(), 2, "{log}");
    log
}

/// The lines of `log` that contain `text`.
fn lines<'a>(log: &'a str, text: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(text)).collect()
}
