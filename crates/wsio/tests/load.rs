//! 10,000 concurrent connections against `wsio::Server` on loopback, each sending and
//! receiving, with the server's heap per connection measured.
//!
//! It takes a few seconds, even unoptimized, so it runs with the other tests; to see the
//! figures, run
//!
//! ```sh
//! cargo test --release -p wsio --test load -- --nocapture
//! ```
//!
//! (`WSIO_LOAD_CONNECTIONS` changes the count). The clients run in a child process (this test
//! binary, started again), so that each process needs one descriptor per connection, and the
//! server's heap is measured without theirs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wsio::{Message, Server};

#[path = "support/measure.rs"]
mod measure;
mod support;

/// Set in the child process: the URL to load.
const TARGET: &str = "WSIO_LOAD_TARGET";
/// How many round trips each connection makes once all are open (one more before).
const ROUNDS: u64 = 10;
/// How many connections the client opens at once.
const CONNECTING_AT_ONCE: usize = 500;
/// The most server heap an open, idle connection may cost: SECURITY.md says about 2 KiB.
const HEAP_PER_CONNECTION: usize = 3 * 1024;

fn connections() -> usize {
    std::env::var("WSIO_LOAD_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn ten_thousand_connections_send_and_receive() {
    let limit = measure::raise_fd_limit();
    let count = connections();
    assert!(
        limit > count as u64 + 100,
        "{count} connections need more than the {limit} open files allowed"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if let Ok(url) = std::env::var(TARGET) {
        runtime.block_on(clients(&url, count));
    } else {
        runtime.block_on(server(count));
    }
}

/// The server's side: serves echo, starts the clients, and measures.
async fn server(count: usize) {
    let server = Server::builder()
        .fallback(|ws, _| support::echo(ws))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, _) = support::serve(server);
    let before = measure::live();
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ten_thousand_connections_send_and_receive",
            "--nocapture",
        ])
        .env(TARGET, format!("ws://{addr}/"))
        .env("WSIO_LOAD_CONNECTIONS", count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The child's reports, read to its end (a pipe closed early would fail its output).
    let (reports, mut report) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(text) = line.strip_prefix("LOAD ") {
                let _ = reports.send(text.to_owned());
            }
        }
    });
    let mut next_report = async || {
        tokio::time::timeout(Duration::from_secs(300), report.recv())
            .await
            .expect("the clients took too long")
            .expect("the clients ended early")
    };
    let opened = next_report().await;
    // Every connection is open and has echoed one message: the heap now holds them all. A
    // connection gives back its buffers 100 ms after it goes quiet (the core's release
    // timer), so the heap is looked at until it has, for a few seconds at most.
    let held = handle.client_count();
    let quiet = Instant::now() + Duration::from_secs(5);
    let per_connection = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let per_connection = measure::live().saturating_sub(before) / held.max(1);
        if per_connection <= HEAP_PER_CONNECTION || Instant::now() > quiet {
            break per_connection;
        }
    };
    eprintln!(
        "{opened}; the server holds {held} connections, {per_connection} bytes of heap each, \
         after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    writeln!(stdin, "go").unwrap();
    let done = next_report().await;
    eprintln!("{done}, {:.1} s in all", started.elapsed().as_secs_f64());
    assert!(child.wait().unwrap().success());
    assert_eq!(held, count, "{opened}");
    assert!(
        per_connection <= HEAP_PER_CONNECTION,
        "{per_connection} bytes of heap per idle connection"
    );
    assert!(done.ends_with(" 0 errors"), "{done}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.client_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "connections left after the clients closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.close().await;
}

/// The clients' side, in the child process: open every connection with one round trip,
/// report, wait for the word, make the other rounds, close, report.
async fn clients(url: &str, count: usize) {
    let errors = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let go = Arc::new(tokio::sync::Notify::new());
    let opened = Arc::new(tokio::sync::Barrier::new(count + 1));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (url, errors, messages) = (url.to_owned(), errors.clone(), messages.clone());
        let (gate, go, opened) = (gate.clone(), go.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let connection = wsio::connect(&url).await;
            drop(permit);
            let mut ws = match connection {
                Ok((ws, _)) => Some(ws),
                Err(error) => {
                    eprintln!("connection {i}: {error}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            };
            let text = format!("message from connection {i:>5}, padded to 64 bytes......");
            let round_trip = async |ws: &mut wsio::WebSocket<_>| {
                ws.send_text(text.clone()).await?;
                match ws.next().await {
                    Some(Ok(Message::Text(echo))) if echo.as_str() == text => Ok(()),
                    other => Err(format!("{other:?}")),
                }
                .map_err(|e| wsio::Error::Io(std::io::Error::other(e)))
            };
            let ok = |result: wsio::Result<()>| match result {
                Ok(()) => {
                    messages.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(error) => {
                    eprintln!("connection {i}: {error}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    false
                }
            };
            if let Some(socket) = ws.as_mut() {
                if !ok(round_trip(socket).await) {
                    ws = None;
                }
            }
            let notified = go.notified();
            opened.wait().await;
            notified.await;
            if let Some(mut ws) = ws {
                for _ in 0..ROUNDS {
                    if !ok(round_trip(&mut ws).await) {
                        return;
                    }
                }
                let _ = ws.close(wsio::CloseCode::NORMAL, "").await;
                while ws.next().await.is_some() {}
            }
        }));
    }
    opened.wait().await;
    println!(
        "LOAD {count} connections opened, {} errors",
        errors.load(Ordering::Relaxed)
    );
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    })
    .await
    .unwrap();
    go.notify_waiters();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "LOAD {} messages echoed, {} errors",
        messages.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
}
