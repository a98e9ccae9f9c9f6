//! Faults: a peer process killed mid-frame or mid-message, and a network path that loses
//! packets.
//!
//! The killed peers are real processes: this test binary started again as a child
//! (`child_process` below), talking to the test over loopback, and stopped with SIGKILL, so
//! that the kernel, not wsio, ends its side of the connection. SECURITY.md cites these tests
//! by name.

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsio::proto::Backoff;
use wsio::reconnect::{Builder, Event, Events, Policy};
use wsio::{ClientBuilder, CloseCode, Error, Frame, Message, OpCode, Server};

use support::LIMIT;

/// The environment variable that tells `child_process` which peer to be.
const CHILD: &str = "WSIO_FAULT_CHILD";
/// What the child prints before each line meant for the test (its test harness prints too).
const SAID: &str = "wsio-fault: ";
/// The size of each of the two fragments the killed server sends of a message it never ends.
const FRAGMENT: usize = 1 << 20;

/// Not a test: the body of the peer processes that the tests of this file start and kill,
/// chosen by `WSIO_FAULT_CHILD`. It runs only when a test starts it, and ends by itself after
/// [`LIMIT`] if nobody kills it.
#[test]
#[ignore = "the child process that the fault tests start and kill; not run on its own"]
fn child_process() {
    // Run by hand (`--ignored`) rather than by a test of this file, there is nothing to do.
    let Ok(role) = std::env::var(CHILD) else {
        return;
    };
    let mut words = role.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("half-frame"), Some(addr), Some(greeting)) => half_frame_client(addr, greeting),
        (Some("mid-message"), None, None) => {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let _ = tokio::time::timeout(LIMIT, mid_message_server()).await;
            })
        }
        _ => panic!("unknown child role {role:?}"),
    }
}

/// Prints a line for the test that started this process.
fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{SAID}{line}").unwrap();
    out.flush().unwrap();
}

/// A client that opens a WebSocket to `addr`, writes half of a frame and waits to be killed.
/// With `greeting` "read" it first reads the server's 5-byte greeting, so that nothing is
/// left unread when it dies (its kernel then ends the connection with FIN); with "unread" it
/// leaves the greeting in its receive buffer (the kernel then resets the connection).
fn half_frame_client(addr: &str, greeting: &str) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    // The response head, byte by byte so that no frame byte is taken with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // An unmasked text frame of 5 bytes: 7 bytes in all.
    let mut frame = [0u8; 7];
    if greeting == "read" {
        tcp.read_exact(&mut frame).unwrap();
    } else {
        while tcp.peek(&mut frame).unwrap() < frame.len() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // A masked binary frame announcing 1000 bytes, and 400 of them.
    let mut half = vec![0x82, 0xFE, 0x03, 0xE8, 1, 2, 3, 4];
    half.extend_from_slice(&[0x55; 400]);
    tcp.write_all(&half).unwrap();
    say("half a frame written");
    std::thread::sleep(LIMIT);
}

/// A server on a loopback port of its own that, on each connection, sends two fragments of a
/// binary message it never finishes, then reads and reports the client's binary messages
/// (each an 8-byte sequence number) until it is killed.
async fn mid_message_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    say(format_args!(
        "listening {}",
        listener.local_addr().unwrap().port()
    ));
    while let Ok((tcp, _)) = listener.accept().await {
        let Ok(mut ws) = wsio::accept(tcp).await else {
            continue;
        };
        let part = bytes::Bytes::from(vec![9u8; FRAGMENT]);
        ws.send_frame(Frame::new(false, OpCode::Binary, part.clone()))
            .await
            .unwrap();
        ws.send_frame(Frame::new(false, OpCode::Continuation, part))
            .await
            .unwrap();
        say("mid-message");
        while let Some(Ok(message)) = ws.recv().await {
            if let Message::Binary(data) = message {
                say(format_args!("got {}", sequence(&data)));
            }
        }
    }
}

/// The sequence number a message of the tests starts with.
fn sequence(data: &[u8]) -> u64 {
    u64::from_be_bytes(data[..8].try_into().unwrap())
}

/// Each of `0..count` reached the server once, in order, or was handed back.
fn nothing_lost(count: u64, received: &[u64], unsent: &[u64]) {
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "duplicated or out of order: {received:?}"
    );
    let lost: Vec<u64> = (0..count)
        .filter(|seq| !received.contains(seq) && !unsent.contains(seq))
        .collect();
    assert_eq!(
        lost,
        [] as [u64; 0],
        "accepted, neither received nor handed back"
    );
}

/// A server whose every connection logs the sequence numbers of the binary messages it
/// receives.
fn logging_server(log: Arc<Mutex<Vec<u64>>>) -> wsio::ServerBuilder {
    Server::builder().fallback(move |mut ws, _| {
        let log = log.clone();
        async move {
            while let Some(Ok(message)) = ws.recv().await {
                if let Message::Binary(data) = message {
                    log.lock().unwrap().push(sequence(&data));
                }
            }
        }
    })
}

/// This test binary, to be started as the child `role`, its output piped to the test.
fn child_command(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_process", "--ignored", "--nocapture"])
        .args(["--test-threads=1", "--quiet"])
        .env(CHILD, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    command
}

/// A child process that the test reads and kills; killed when dropped, should the test fail
/// first.
struct Child {
    process: tokio::process::Child,
    /// The lines the child said, except the `got` ones.
    said: mpsc::UnboundedReceiver<String>,
    /// The sequence numbers of the `got` lines, in order.
    got: Arc<Mutex<Vec<u64>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Child {
    fn start(role: &str) -> Self {
        let mut process = tokio::process::Command::from(child_command(role))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let (tell, said) = mpsc::unbounded_channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(line) = line.strip_prefix(SAID) else {
                    continue;
                };
                match line.strip_prefix("got ") {
                    Some(seq) => log.lock().unwrap().push(seq.parse().unwrap()),
                    None => drop(tell.send(line.to_owned())),
                }
            }
        });
        Child {
            process,
            said,
            got,
            reader,
        }
    }

    /// The next line the child says, which must start with `prefix`; the rest of it.
    async fn expect(&mut self, prefix: &str) -> String {
        let line = tokio::time::timeout(LIMIT, self.said.recv())
            .await
            .expect("the child speaks in time")
            .expect("the child is running");
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, the child said {line:?}"))
            .to_owned()
    }

    /// SIGKILL, then every line the child said before it died is read.
    async fn kill(mut self) -> Vec<u64> {
        self.process.kill().await.unwrap();
        tokio::time::timeout(LIMIT, self.reader)
            .await
            .expect("the child's output ends")
            .unwrap();
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

/// Whether `error` says that the peer went away without a close handshake: the transport
/// ended (the peer's kernel sent FIN) or was reset (RST), and nothing else.
fn peer_vanished(error: &Error) -> bool {
    match error {
        Error::Connection(wsio::proto::ConnectionError::UnexpectedEof) => true,
        Error::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// A client process killed with half a frame written: the server's handler gets `expected`
/// from `recv`, the connection is let go, and another client is served.
async fn client_killed_mid_frame(greeting: &str, expected: fn(&Error) -> bool) {
    let (report, mut outcome) = mpsc::unbounded_channel();
    let server = Server::builder()
        .route("/", move |mut ws, _| {
            let report = report.clone();
            async move {
                ws.send_text("hello").await.unwrap();
                let _ = report.send(ws.recv().await);
            }
        })
        .route("/echo", |ws, _| support::echo(ws))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, serving) = support::serve(server);

    let mut child = Child::start(&format!("half-frame {addr} {greeting}"));
    child.expect("half a frame written").await;
    child.kill().await;
    let outcome = tokio::time::timeout(LIMIT, outcome.recv())
        .await
        .expect("the handler hears of it in time")
        .unwrap();
    match outcome {
        Some(Err(error)) => assert!(expected(&error), "unexpected error {error:?}"),
        other => panic!("expected an error, got {other:?}"),
    }
    tokio::time::timeout(LIMIT, async {
        while handle.client_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the connection is let go");

    let (mut ws, _) = wsio::connect(&format!("ws://{addr}/echo")).await.unwrap();
    ws.send_text("still served").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("still served")
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    while ws.recv().await.is_some() {}
    handle.close().await;
    serving.await.unwrap().unwrap();
}

/// The client had read all it was sent: its kernel ends the connection with FIN, and the
/// server's handler gets `Error::Connection(UnexpectedEof)`.
#[tokio::test]
async fn a_client_killed_mid_frame_ends_its_connection_with_unexpected_eof() {
    client_killed_mid_frame("read", |error| {
        matches!(
            error,
            Error::Connection(wsio::proto::ConnectionError::UnexpectedEof)
        )
    })
    .await;
}

/// The client had left data unread: its kernel resets the connection, and the server's
/// handler gets `Error::Io` of kind `ConnectionReset`.
#[tokio::test]
async fn a_client_killed_with_unread_data_ends_its_connection_with_a_reset() {
    client_killed_mid_frame(
        "unread",
        |error| matches!(error, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
    )
    .await;
}

/// The async client, two fragments into a message, sees the server killed:
/// `Error::Connection(UnexpectedEof)` from `recv`, not a hang and not a partial message.
#[tokio::test]
async fn a_server_killed_mid_message_gives_the_async_client_unexpected_eof() {
    let mut child = Child::start("mid-message");
    let port = child.expect("listening ").await;
    let (mut ws, _) = wsio::connect(&format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let receiving = tokio::spawn(async move { ws.recv().await });
    child.expect("mid-message").await;
    assert!(!receiving.is_finished(), "the message is not complete");
    child.kill().await;
    let outcome = tokio::time::timeout(LIMIT, receiving)
        .await
        .expect("recv ends in time")
        .unwrap();
    assert!(
        matches!(
            outcome,
            Some(Err(Error::Connection(
                wsio::proto::ConnectionError::UnexpectedEof
            )))
        ),
        "{outcome:?}"
    );
}

/// The same for the blocking client: `recv` returns `Error::Connection(UnexpectedEof)`.
#[test]
fn a_server_killed_mid_message_gives_the_blocking_client_unexpected_eof() {
    let mut child = ChildGuard(child_command("mid-message").spawn().unwrap());
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut expect = |prefix: &str| loop {
        let line = lines.next().expect("the child speaks").unwrap();
        if let Some(line) = line.strip_prefix(SAID) {
            return line
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected {prefix:?}, the child said {line:?}"))
                .to_owned();
        }
    };
    let port = expect("listening ");
    let (mut ws, _) = wsio::blocking::connect(&format!("ws://127.0.0.1:{port}/")).unwrap();
    // Bounds the test should the error never come.
    ws.set_read_timeout(Some(LIMIT));
    let receiving = std::thread::spawn(move || ws.recv());
    expect("mid-message");
    assert!(!receiving.is_finished(), "the message is not complete");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let outcome = receiving.join().unwrap();
    assert!(
        matches!(
            outcome,
            Err(Error::Connection(
                wsio::proto::ConnectionError::UnexpectedEof
            ))
        ),
        "{outcome:?}"
    );
}

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(LIMIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the client is running")
}

/// Kills a blocking test's child process should the test fail before it does.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reconnecting client, writing messages while the server is killed two fragments into
/// a message of its own: the connection ends with a typed error, the client reconnects once
/// a server listens on the port again, and each message `send` accepted reached one of the
/// two servers, once and in order, or was handed back.
#[tokio::test]
async fn the_reconnecting_client_recovers_from_a_killed_server_and_loses_nothing() {
    let mut child = Child::start("mid-message");
    let port: u16 = child.expect("listening ").await.parse().unwrap();
    let client = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let backoff = Backoff::default()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100));
    let (client, mut events) = Builder::new(client)
        .policy(Policy::default().backoff(backoff))
        .start();
    let send = |range: std::ops::Range<u64>| {
        for seq in range {
            client
                .send(Message::binary(seq.to_be_bytes().to_vec()))
                .unwrap();
        }
    };

    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    child.expect("mid-message").await;
    send(0..50);
    // Some arrive; the rest are in flight, or written after the kill.
    while child.got.lock().unwrap().len() < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    send(50..100);
    let first = child.kill().await;
    let mut unsent = Vec::new();
    let disconnect = loop {
        match next(&mut events).await {
            Event::Closed(disconnect) => break disconnect,
            Event::Unsent(messages) => unsent.extend(messages),
            Event::Error(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(!disconnect.was_clean);
    let error = disconnect.error.expect("an error");
    let wsio::reconnect::Error::Connection(cause) = &*error else {
        panic!("unexpected error {error:?}")
    };
    assert!(peer_vanished(cause), "unexpected error {error:?}");
    eprintln!("killed server: the client saw {error:?}");

    // Queued while no server listens, then the server comes back on the same port.
    send(100..120);
    let second = Arc::new(Mutex::new(Vec::new()));
    let log = second.clone();
    let server = logging_server(log).bind(("127.0.0.1", port)).await.unwrap();
    let handle = server.handle();
    let serving = tokio::spawn(server.run());
    loop {
        match next(&mut events).await {
            Event::Connected { session, .. } => {
                assert!(session.is_reconnect);
                break;
            }
            Event::Unsent(messages) => unsent.extend(messages),
            Event::Error(_) | Event::AttemptFailed(_) | Event::Reconnecting { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    send(120..130);
    client.close(CloseCode::NORMAL, "done").await.unwrap();
    loop {
        match next(&mut events).await {
            Event::Unsent(messages) => unsent.extend(messages),
            Event::Stopped => break,
            Event::Closed(disconnect) => assert!(disconnect.was_clean),
            Event::Message(message) => panic!("a partial message was delivered: {message:?}"),
            _ => {}
        }
    }
    handle.close().await;
    serving.await.unwrap().unwrap();

    let second = second.lock().unwrap().clone();
    let received: Vec<u64> = first.iter().chain(&second).copied().collect();
    let unsent: Vec<u64> = unsent.iter().map(|m| sequence(m.payload())).collect();
    nothing_lost(130, &received, &unsent);
    assert!(
        (100..130).all(|seq| second.contains(&seq)),
        "what was queued while the server was down, and sent after, reached the new server"
    );
    eprintln!(
        "killed server: received {} before the kill and {} after it, {} handed back",
        first.len(),
        second.len(),
        unsent.len()
    );
}

/// A network path that loses packets: a network namespace that the test makes for itself,
/// with nothing in it but its own loopback interface. Linux and root only:
/// `scripts/netns-faults.sh` runs these tests where the machine allows it, and says why not
/// where it does not.
///
/// The server and the client both run inside the namespace and talk over its 127.0.0.1, so
/// no packet leaves it, and the loss there touches nothing else on the machine. The loss is
/// an nftables rule on the namespace's input hook that drops a random share of the packets
/// (`numgen random`): every packet on a loopback interface is sent once and received once,
/// so the rule drops that share each way, after the sender's TCP has counted the packet as
/// sent, as a lossy wire would. `tc netem`, the usual tool, needs the `sch_netem` qdisc,
/// which not every kernel has.
#[cfg(target_os = "linux")]
mod lossy {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::os::fd::AsFd;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use wsio::proto::Backoff;
    use wsio::reconnect::{Builder, Event, Events, Policy};
    use wsio::{ClientBuilder, CloseCode, Error, Message, Phase};

    use super::{LIMIT, next, nothing_lost, sequence};

    /// What the namespaces' names start with; `scripts/netns-faults.sh` sets it so that it
    /// can remove them should this process die before it does.
    const PREFIX: &str = "WSIO_NETNS_PREFIX";

    /// The test's network namespace, removed when dropped.
    struct Namespace {
        name: String,
    }

    fn run(program: &str, args: &[&str], input: &str) -> String {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    impl Namespace {
        fn new(tag: &str) -> Namespace {
            let prefix =
                std::env::var(PREFIX).unwrap_or_else(|_| format!("wsio-{}", std::process::id()));
            let name = format!("{prefix}-{tag}");
            run("ip", &["netns", "add", &name], "");
            // Made: from here on, dropping it removes it, whatever fails next.
            let namespace = Namespace { name };
            // An Ethernet-sized MTU, and one TCP segment per packet, so that the loss is per
            // packet of a real wire rather than per 64 KiB burst of the loopback's defaults.
            run(
                "ip",
                &[
                    "-n",
                    &namespace.name,
                    "link",
                    "set",
                    "lo",
                    "mtu",
                    "1500",
                    "gso_max_segs",
                    "1",
                    "up",
                ],
                "",
            );
            namespace
        }

        /// Drops `percent` of the packets crossing the loopback, each way, from now on.
        fn set_loss(&self, percent: u32) {
            // Declaring the table first makes the delete succeed when it does not exist yet;
            // nft applies the whole script at once.
            let share = match percent {
                100.. => String::new(),
                _ => format!("numgen random mod 100 < {percent} "),
            };
            let rules = format!(
                "table inet wsio\ndelete table inet wsio\n\
                 table inet wsio {{ chain input {{\n\
                 type filter hook input priority 0; policy accept;\n\
                 counter\n{share}counter drop\n}}\n}}\n"
            );
            run(
                "ip",
                &["netns", "exec", &self.name, "nft", "-f", "-"],
                &rules,
            );
        }

        /// How many packets crossed the loopback since the loss was last set, and how many of
        /// them the loss rule dropped.
        fn counts(&self) -> (u64, u64) {
            let table = run(
                "ip",
                &[
                    "netns", "exec", &self.name, "nft", "list", "table", "inet", "wsio",
                ],
                "",
            );
            let count = |n| {
                let after = table.split("counter packets ").nth(n).unwrap();
                after.split(' ').next().unwrap().parse::<u64>().unwrap()
            };
            (count(1), count(2))
        }

        /// Runs `task` on a runtime of its own, on a thread inside the namespace: every
        /// socket it opens belongs to the namespace.
        fn spawn<F, T>(&self, task: F) -> std::thread::JoinHandle<T>
        where
            F: Future<Output = T> + Send + 'static,
            T: Send + 'static,
        {
            let file = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
            std::thread::spawn(move || {
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap();
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(task)
            })
        }

        /// Starts a server on the namespace's 127.0.0.1 that logs the binary messages it
        /// receives, and returns its address; it stops when `stop` is sent or dropped.
        fn serve(
            &self,
            log: Arc<Mutex<Vec<u64>>>,
        ) -> (
            SocketAddr,
            tokio::sync::oneshot::Sender<()>,
            std::thread::JoinHandle<()>,
        ) {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            let (ready, listening) = std::sync::mpsc::channel();
            let thread = self.spawn(async move {
                let server = super::logging_server(log)
                    .bind("127.0.0.1:0")
                    .await
                    .unwrap();
                let handle = server.handle();
                ready.send(server.local_addr().unwrap()).unwrap();
                let serving = tokio::spawn(server.run());
                let _ = stopped.await;
                handle.close().await;
                serving.await.unwrap().unwrap();
            });
            let addr = listening.recv().expect("the server starts");
            (addr, stop, thread)
        }
    }

    impl Drop for Namespace {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    /// A reconnecting client of the server at `server` that gives a connection attempt, and a
    /// ping, `patience` before it gives up on them.
    fn client(
        server: SocketAddr,
        patience: Duration,
    ) -> (wsio::reconnect::ReconnectingClient, Events) {
        let client = ClientBuilder::new(&format!("ws://{server}/"))
            .unwrap()
            .connect_timeout(patience)
            .ping_interval(Some(Duration::from_millis(300)))
            .pong_timeout(patience);
        let backoff = Backoff::default()
            .initial(Duration::from_millis(50))
            .max(Duration::from_millis(200));
        Builder::new(client)
            .policy(Policy::default().backoff(backoff))
            .start()
    }

    /// A 1 KiB message that starts with its sequence number.
    fn numbered(seq: u64) -> Message {
        let mut data = seq.to_be_bytes().to_vec();
        data.resize(1024, 0);
        Message::binary(data)
    }

    /// Sends `range` in order, waiting for room in the queue when it is full.
    async fn send_all(client: &wsio::reconnect::ReconnectingClient, range: std::ops::Range<u64>) {
        for seq in range {
            super::support::send_waiting(client, numbered(seq)).await;
        }
    }

    /// Closes the client and collects the messages it hands back until it stops.
    async fn close(
        client: wsio::reconnect::ReconnectingClient,
        mut events: Events,
        mut unsent: Vec<u64>,
    ) -> Vec<u64> {
        client.close(CloseCode::NORMAL, "done").await.unwrap();
        loop {
            match next(&mut events).await {
                Event::Unsent(messages) => {
                    unsent.extend(messages.iter().map(|m| sequence(m.payload())))
                }
                Event::Stopped => return unsent,
                _ => {}
            }
        }
    }

    /// 20% of packets lost each way: TCP retransmits, and what the reconnecting client
    /// accepts reaches the server once and in order, or is handed back.
    #[test]
    #[ignore = "needs root, network namespaces and nftables: run by scripts/netns-faults.sh"]
    fn a_lossy_path_delivers_each_message_once_in_order_or_hands_it_back() {
        const MESSAGES: u64 = 200;
        let path = Namespace::new("lossy");
        path.set_loss(20);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (addr, stop, server) = path.serve(received.clone());
        let unsent = path
            .spawn(async move {
                // TCP retransmits lost packets, backing off to seconds: the client waits as long.
                let (client, mut events) = client(addr, Duration::from_secs(5));
                // Usually a few seconds; but each loss of the same packet doubles TCP's wait
                // before it sends it again, and a few such stalls (in the handshake, the
                // messages and the close) have taken 15 s between them.
                tokio::time::timeout(3 * LIMIT, async {
                    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
                    // Paced, so that messages and their confirmations cross in many packets.
                    for seq in (0..MESSAGES).step_by(10) {
                        send_all(&client, seq..seq + 10).await;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    close(client, events, Vec::new()).await
                })
                .await
                .expect("the messages go through in time")
            })
            .join()
            .unwrap();
        let (arrived, dropped) = path.counts();
        drop(stop);
        server.join().unwrap();
        let received = received.lock().unwrap();
        nothing_lost(MESSAGES, &received, &unsent);
        assert!(dropped > 0, "the path lost none of {arrived} packets");
        // Not more: a packet lost several times over stalls TCP for seconds (its
        // retransmission timeout doubles each time), which the pong timeout may take for a
        // dead path.
        assert!(!received.is_empty(), "messages get through");
        eprintln!(
            "lossy path: {dropped} of {arrived} packets dropped, {} of {MESSAGES} received, \
             {} handed back",
            received.len(),
            unsent.len()
        );
    }

    /// The path goes dead (every packet lost): the pong timeout ends the connection with
    /// `KeepaliveTimeout`, attempts fail with a connect timeout while it stays dead, and the
    /// client reconnects once it heals, losing nothing it accepted.
    #[test]
    #[ignore = "needs root, network namespaces and nftables: run by scripts/netns-faults.sh"]
    fn a_blackholed_path_is_caught_by_the_pong_timeout_and_healed_by_reconnecting() {
        let path = Arc::new(Namespace::new("blackhole"));
        path.set_loss(0);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (addr, stop, server) = path.serve(received.clone());
        let control = path.clone();
        let unsent = path
            .spawn(async move {
                let (client, mut events) = client(addr, Duration::from_secs(1));
                tokio::time::timeout(LIMIT, async {
                    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
                    send_all(&client, 0..10).await;
                    while client.pending() > 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    control.set_loss(100);
                    send_all(&client, 10..20).await;
                    let mut unsent = Vec::new();
                    let mut keep = |messages: Vec<Message>| {
                        unsent.extend(messages.iter().map(|m| sequence(m.payload())))
                    };
                    let disconnect = loop {
                        match next(&mut events).await {
                            Event::Closed(disconnect) => break disconnect,
                            Event::Unsent(messages) => keep(messages),
                            _ => {}
                        }
                    };
                    let error = disconnect.error.expect("an error");
                    assert!(
                        matches!(
                            *error,
                            wsio::reconnect::Error::Connection(Error::Connection(
                                wsio::proto::ConnectionError::KeepaliveTimeout
                            ))
                        ),
                        "{error:?}"
                    );
                    // An attempt across the dead path fails.
                    loop {
                        match next(&mut events).await {
                            Event::Error(error)
                                if matches!(
                                    *error,
                                    wsio::reconnect::Error::Connection(Error::Timeout(
                                        Phase::Connect
                                    ))
                                ) =>
                            {
                                break;
                            }
                            Event::Unsent(messages) => keep(messages),
                            _ => {}
                        }
                    }
                    control.set_loss(0);
                    loop {
                        match next(&mut events).await {
                            Event::Connected { session, .. } => {
                                assert!(session.is_reconnect);
                                break;
                            }
                            Event::Unsent(messages) => keep(messages),
                            _ => {}
                        }
                    }
                    send_all(&client, 20..30).await;
                    close(client, events, unsent).await
                })
                .await
                .expect("the path heals and the client reconnects in time")
            })
            .join()
            .unwrap();
        drop(stop);
        server.join().unwrap();
        let received = received.lock().unwrap();
        nothing_lost(30, &received, &unsent);
        assert!(
            (10..20).all(|seq| unsent.contains(&seq) && !received.contains(&seq)),
            "what was written into the dead path is handed back and never arrives"
        );
        assert!((20..30).all(|seq| received.contains(&seq)));
        eprintln!(
            "blackholed path: {} of 30 received, handed back {:?}",
            received.len(),
            unsent
        );
    }
}
