//! The `broadcast_server` example, run as a process on 127.0.0.1 and stopped by each test:
//! every message reaches every client, the sender included, whatever each negotiated; a
//! client that stops reading is closed once it falls too far behind, and the others go on.
//!
//! `cargo test` builds the examples before it runs the tests; run alone, this file needs
//! `cargo build -p wsio --example broadcast_server` first.
#![cfg(feature = "deflate")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wsio::{ClientBuilder, DeflateConfig, Message, Transport, WebSocket};

mod support;

/// The example's process, killed when dropped.
struct Example {
    child: Child,
    url: String,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Example {
    /// Starts the example on a free port of 127.0.0.1, with `--deflate`.
    fn start() -> Example {
        let test = std::env::current_exe().expect("the test's path");
        let profile = test
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/PROFILE");
        let path = profile.join("examples").join("broadcast_server");
        assert!(
            path.exists(),
            "{} is missing: `cargo test` builds it, or `cargo build -p wsio --example broadcast_server`",
            path.display()
        );
        let mut child = Command::new(path)
            .args(["127.0.0.1:0", "--deflate"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        stderr
            .read_line(&mut line)
            .expect("the example says where it listens");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("an address")
            .to_owned();
        assert!(url.starts_with("ws://127.0.0.1:"), "{line}");
        Example { child, url, stderr }
    }

    /// The example's next line on stderr.
    fn next_note(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).expect("stderr");
        line
    }
}

async fn client(url: &str, deflate: bool) -> WebSocket<Transport> {
    let mut builder = ClientBuilder::new(url).unwrap();
    if deflate {
        builder = builder.deflate(DeflateConfig::default());
    }
    builder.connect().await.unwrap().0
}

#[tokio::test]
async fn every_message_reaches_every_client_whatever_it_negotiated() {
    let example = Example::start();
    tokio::time::timeout(support::LIMIT, async {
        let mut clients = vec![
            client(&example.url, false).await,
            client(&example.url, true).await,
            client(&example.url, true).await,
        ];
        assert!(clients[0].negotiated().is_empty());
        assert!(!clients[1].negotiated().is_empty());
        let big = Message::binary(vec![7u8; 100_000]);
        let sent = [
            Message::text("from the first"),
            Message::text("from the second ".repeat(100)),
            big,
        ];
        // One at a time, so that every client sees them in this order.
        for (sender, message) in sent.iter().enumerate() {
            clients[sender].send(message.clone()).await.unwrap();
            for ws in &mut clients {
                assert_eq!(&ws.recv().await.unwrap().unwrap(), message);
            }
        }
        for ws in &mut clients {
            assert!(
                ws.close(wsio::CloseCode::NORMAL, "")
                    .await
                    .unwrap()
                    .was_clean
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_the_others_go_on() {
    let mut example = Example::start();
    let url = example.url.clone();
    let sender = tokio::spawn(async move {
        // A client that completes the handshake and then never reads.
        let stalled = client(&url, false).await;
        let mut fast = client(&url, false).await;
        let mut reader = client(&url, false).await;
        let message = Message::binary(vec![1u8; 16 << 10]);
        // Far more than the backlog (1024) and the kernel's buffers on the stalled socket.
        for _ in 0..4000 {
            fast.send(message.clone()).await.unwrap();
            assert_eq!(reader.recv().await.unwrap().unwrap(), message);
            assert_eq!(fast.recv().await.unwrap().unwrap(), message);
        }
        assert!(
            fast.close(wsio::CloseCode::NORMAL, "")
                .await
                .unwrap()
                .was_clean
        );
        stalled
    });
    let stalled = tokio::time::timeout(Duration::from_secs(60), sender)
        .await
        .expect("the fast clients are not held back")
        .unwrap();
    let note = tokio::task::spawn_blocking(move || example.next_note())
        .await
        .unwrap();
    assert!(note.starts_with("closing a client"), "{note}");
    drop(stalled);
}
