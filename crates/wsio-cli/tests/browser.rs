//! The chat page in a real browser: `tests/peers/browser_chat.js` opens `wsio serve`'s page in
//! two pages of a headless Chromium and sees a message typed in one appear in the other, over
//! connections that Chromium's permessage-deflate offer made compressed: in cleartext over
//! HTTP/1.1, and over TLS where Chromium picks HTTP/2 and opens the WebSockets with extended
//! CONNECTs; and the same chat served by the axum example (`examples/axum_chat.rs`) over TLS
//! and HTTP/2; and two `wsio serve --cluster` nodes joined through Redis, a page on each, each
//! page showing its node.
//! `scripts/setup-peers.sh` and `scripts/setup-browser.sh` install what it needs.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../../wsio-hub/tests/support/brokers.rs"]
mod brokers;
mod support;

use brokers::{Broker, Kind, free_port};
use support::{LIMIT, Served};

#[test]
fn two_browser_pages_chat_through_wsio_serve() {
    let log = chat_through_wsio_serve(&[], "http");
    // Over HTTP/1.1: each page's WebSocket is an upgrade.
    check_log(&log, "version=HTTP/1.1");
}

/// Over TLS, Chromium speaks HTTP/2 to `wsio serve` (ALPN `h2`) and opens each page's
/// WebSocket on a stream of that connection with an extended CONNECT (RFC 8441), compressed.
#[test]
fn two_browser_pages_chat_over_http2_and_tls() {
    let (cert, key) = support::pem_certificate("browser-tls");
    let tls = ["--cert", cert.as_str(), "--key", key.as_str()];
    let log = chat_through_wsio_serve(&tls, "https");
    check_log(&log, "version=HTTP/2.0");
}

/// The same chat in axum (`examples/axum_chat.rs`), over TLS and HTTP/2 through wsio's
/// extractor.
#[test]
fn two_browser_pages_chat_over_http2_through_the_axum_example() {
    let (cert, key) = support::pem_certificate("browser-axum");
    let example = example_path("axum_chat");
    let mut server = Command::new(example)
        .args(["127.0.0.1:0", &cert, &key])
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    browse(&format!("{url}/"));
    let _ = server.kill();
    support::wait(&mut server, LIMIT);
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    check_log(&log, "version=HTTP/2.0");
}

/// Two nodes of a cluster joined through Redis: a page on each chats with the other, and
/// each shows the node it is connected to.
#[test]
fn browser_pages_on_two_nodes_of_a_cluster_chat_and_show_their_node() {
    let port = free_port();
    let _broker = Broker::start(Kind::Redis, port);
    let url = Kind::Redis.url(port);
    let nodes = ["east", "west"].map(|name| {
        let served = Served::start(&["--cluster", &url, "--node", name]);
        served.lines.until("cluster: connected");
        served
    });
    let statuses = browse_two(
        &format!("http://{}/", nodes[0].addr()),
        &format!("http://{}/", nodes[1].addr()),
    );
    assert_eq!(
        statuses,
        ["one: connected to node east", "two: connected to node west"]
    );
}

/// The path of an example of this package, which `cargo test` builds before the tests.
fn example_path(name: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test's path");
    let profile = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/PROFILE");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds it, or `cargo build -p wsio-cli --example {name}`",
        path.display()
    );
    path
}

/// Serves the chat with `wsio serve` and `extra` arguments, has two Chromium pages chat
/// through it at `scheme://ADDRESS/`, stops the server and returns its log.
fn chat_through_wsio_serve(extra: &[&str], scheme: &str) -> String {
    let mut served = Served::start(&[&["-v"], extra].concat());
    browse(&format!("{scheme}://{}/", served.addr()));
    support::signal(&served.child, "INT");
    support::wait(&mut served.child, LIMIT);
    let mut log = String::new();
    let mut stderr = served.child.stderr.take().unwrap();
    stderr.read_to_string(&mut log).unwrap();
    log
}

/// Has two Chromium pages chat through the chat page at `page`.
fn browse(page: &str) {
    let statuses = browse_two(page, page);
    assert_eq!(statuses, ["one: connected", "two: connected"]);
}

/// Has two Chromium pages chat, one opened at `first`, the other at `second`: each page's
/// status line once it was welcomed, `NAME: STATUS`.
fn browse_two(first: &str, second: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/browser_chat.js");
    let mut browser = Command::new("node")
        .arg(script)
        .arg(first)
        .arg(second)
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
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(lines.pop().as_deref(), Some("ok"), "{out}");
    lines
}

/// Checks a chat server's log: two chat requests made with `version`, and two members who
/// joined the room with permessage-deflate.
fn check_log(log: &str, version: &str) {
    let requested = lines(log, "chat requested");
    assert_eq!(requested.len(), 2, "{log}");
    assert!(requested.iter().all(|line| line.contains(version)), "{log}");
    let joined = lines(log, "joined the chat");
    assert_eq!(joined.len(), 2, "{log}");
    for line in joined {
        assert!(
            line.contains("compression=Some(\"permessage-deflate"),
            "{log}"
        );
    }
}

/// The lines of `log` that contain `text`.
fn lines<'a>(log: &'a str, text: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(text)).collect()
}
