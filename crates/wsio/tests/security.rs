//! SECURITY.md, checked: the defaults it states are the defaults, and every test it cites
//! exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsio::reconnect::{QueueError, ReconnectingClient};
use wsio::{Config, Message};

const MIB: usize = 1 << 20;

/// The repository's root, two folders above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_defaults_are_those_security_md_states() {
    let config = Config::default();
    let protocol = &config.protocol;
    assert_eq!(protocol.max_frame_size, 16 * MIB);
    assert_eq!(protocol.max_message_size, 64 * MIB);
    assert_eq!(protocol.max_handshake_size, 8 << 10);
    assert_eq!(config.handshake_timeout, Duration::from_secs(10));
    assert_eq!(config.connect_timeout, Duration::from_secs(10));
    assert_eq!(protocol.close_timeout, Duration::from_secs(10));
    assert_eq!(protocol.ping_interval, None);
    assert_eq!(protocol.pong_timeout, Duration::from_secs(20));
    assert_eq!(config.max_write_buffer, MIB);
    assert_eq!(config.read_buffer_size, 64 << 10);
    assert!(protocol.auto_pong);
    assert!(protocol.deflate.is_none());
    #[cfg(feature = "http2")]
    assert_eq!(wsio::DEFAULT_HTTP2_MAX_STREAMS, 100);
}

#[tokio::test]
async fn the_reconnecting_clients_queue_holds_1024_messages_by_default() {
    // Nothing listens on the port: every message stays queued.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let (client, events) = ReconnectingClient::builder(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .start();
    for i in 0..1024 {
        client.send_text(i.to_string()).unwrap();
    }
    // Each way of queueing is refused at once, and the message comes back.
    assert!(matches!(
        client.send_text("one more"),
        Err(QueueError::Full(m)) if m == Message::text("one more")
    ));
    assert!(matches!(
        client.send_binary(&b"bytes"[..]),
        Err(QueueError::Full(m)) if m == Message::binary(&b"bytes"[..])
    ));
    assert!(matches!(
        client.ping(&b"ping"[..]),
        Err(QueueError::Full(m)) if m == Message::Ping(bytes::Bytes::from_static(b"ping"))
    ));
    // Nothing it accepted was dropped: with nobody taking events, all 1024 come back through
    // `take_unsent` once it stops.
    drop(events);
    client.cancel();
    client.stopped().await;
    assert_eq!(client.take_unsent().len(), 1024);
}

/// Each `` `file::test` `` in SECURITY.md (other than a path into `wsio` or `wsio_proto`) names
/// a test function in a file `file.rs` of a crate's `tests/` or `src/` folder.
#[test]
fn every_test_security_md_cites_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let mut files = Vec::new();
    collect_rust_files(&root.join("crates"), &mut files);
    let mut cited = 0;
    for quoted in text.split('`').skip(1).step_by(2) {
        let Some((file, test)) = quoted.split_once("::") else {
            continue;
        };
        let is_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        // Paths into the crates' APIs (`wsio::Server`) are not citations.
        if !is_name(file) || !is_name(test) || file == "wsio" || file == "wsio_proto" {
            continue;
        }
        cited += 1;
        let found = files.iter().any(|path| {
            path.file_stem().is_some_and(|stem| stem == file)
                && std::fs::read_to_string(path)
                    .unwrap()
                    .contains(&format!("fn {test}("))
        });
        assert!(found, "SECURITY.md cites `{quoted}`, which does not exist");
    }
    assert!(cited > 40, "only {cited} citations found");
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}
