//! The chat page in a real browser: `tests/peers/browser_chat.js` opens `wsio serve`'s page in
//! two pages of a headless Chromium and sees a message typed in one appear in the other.
//! `scripts/setup-peers.sh` and `scripts/setup-browser.sh` install what it needs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::Served;

#[test]
fn two_browser_pages_chat_through_wsio_serve() {
    let served = Served::start(&[]);
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
}
