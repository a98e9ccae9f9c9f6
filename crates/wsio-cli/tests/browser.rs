//! The chat page in a real browser: `tests/peers/browser_chat.js` opens `wsio serve`'s page in
//! two pages of a headless Chromium and sees a message typed in one appear in the other, over
//! connections that Chromium's permessage-deflate offer made compressed.
//! `scripts/setup-peers.sh` and `scripts/setup-browser.sh` install what it needs.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::{LIMIT, Served};

#[test]
fn two_browser_pages_chat_through_wsio_serve() {
    let mut served = Served::start(&["-v"]);
    let page = format!("http://{}/", served.addr());
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
    let joined: Vec<_> = log
        .lines()
        .filter(|line| line.contains("joined the chat"))
        .collect();
    assert_eq!(joined.len(), 2, "{log}");
    for line in joined {
        assert!(
            line.contains("compression=Some(\"permessage-deflate"),
            "{log}"
        );
    }
}
