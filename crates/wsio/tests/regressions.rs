//! Regression tests for bugs a review found in the async layer and the server, each named
//! after what broke. In-memory pipes and mock transports stand in for the network only where a
//! real socket cannot produce the failure on demand (a transport that always fails, one that
//! buffers writes behind a single waker as TLS over TCP does).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsio::proto::Role;
use wsio::{CloseCode, Config, Message, WebSocket};

mod support;

fn config(close_timeout: Duration) -> Config {
    Config::default().close_timeout(close_timeout)
}

/// SinkExt::close after the connection sat idle longer than close_timeout: the peer answers
/// at once, yet the close is reported as a CloseTimeout.
#[tokio::test]
async fn sink_close_after_idle_used_a_stale_clock() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = WebSocket::from_raw(
        a,
        Role::Server,
        &config(Duration::from_millis(200)),
        Default::default(),
    );
    let mut client = WebSocket::from_raw(b, Role::Client, &Config::default(), Default::default());
    // The client echoes the close, as any peer does.
    tokio::spawn(async move { while let Some(Ok(_)) = client.next().await {} });
    let (mut rd, mut wr) = server.split();
    let reader = tokio::spawn(async move { rd.next().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    SinkExt::close(&mut wr).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .unwrap()
        .unwrap();
    match got {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the peer's close, got {other:?}"),
    }
}

/// SinkExt::close does not wake the reader, so the close timer is never armed: a silent peer
/// keeps the reader waiting forever.
#[tokio::test]
async fn sink_close_did_not_arm_the_close_timer() {
    let (a, _b) = tokio::io::duplex(1 << 16); // _b: a peer that never reads nor writes
    let server = WebSocket::from_raw(
        a,
        Role::Server,
        &config(Duration::from_millis(300)),
        Default::default(),
    );
    let (mut rd, mut wr) = server.split();
    let reader = tokio::spawn(async move { rd.next().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    SinkExt::close(&mut wr).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), reader).await;
    assert!(
        got.is_ok(),
        "the reader is still waiting 3 s after a 300 ms close timeout"
    );
}

/// A transport that fails every read and every write, like a reset TCP connection.
struct Broken;

impl AsyncRead for Broken {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
    }
}

impl AsyncWrite for Broken {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// After a transport error, with bytes still queued, the stream yields errors forever and
/// never ends.
#[tokio::test]
async fn a_transport_error_was_reported_forever() {
    let mut ws = WebSocket::from_raw(Broken, Role::Server, &Config::default(), Default::default());
    assert!(ws.send(Message::text("queued")).await.is_err());
    let mut errors = 0;
    let mut ended = false;
    for _ in 0..100 {
        match ws.next().await {
            Some(Err(_)) => errors += 1,
            Some(Ok(m)) => panic!("{m:?}"),
            None => {
                ended = true;
                break;
            }
        }
    }
    assert_eq!(errors, 1, "the error is reported once");
    assert!(ended, "the stream ends after the error");
}

/// A pong deferred because more than 64 KiB was queued is written only at the start of a
/// later write-out; a write-out that starts above 64 KiB and drains everything leaves it
/// behind, and the reader parks on its read with the pong still unsent.
#[tokio::test]
async fn a_deferred_pong_was_stranded() {
    let (a, b) = tokio::io::duplex(4 << 20);
    let server = WebSocket::from_raw(a, Role::Server, &Config::default(), Default::default());
    let mut client = WebSocket::from_raw(b, Role::Client, &Config::default(), Default::default());
    let (mut rd, mut wr) = server.split();
    // Both frames reach the server in one read.
    client.send_text("a").await.unwrap();
    client.ping("p").await.unwrap();
    assert_eq!(rd.next().await.unwrap().unwrap(), Message::text("a"));
    // Buffered, not flushed (SinkExt::feed): 200 KB wait in the output.
    wr.feed(Message::Binary(vec![0u8; 200_000].into()))
        .await
        .unwrap();
    assert!(matches!(
        rd.next().await.unwrap().unwrap(),
        Message::Ping(_)
    ));
    wr.feed(Message::Binary(vec![1u8; 200_000].into()))
        .await
        .unwrap();
    let _reader = tokio::spawn(async move { rd.next().await });
    let mut got = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), client.next()).await {
        got.push(m);
    }
    assert!(
        got.iter().any(|m| matches!(m, Message::Pong(_))),
        "no pong among {} messages",
        got.len()
    );
}

/// `stop_accepting` (formerly `close(keep_clients = true)`) promises that accepted connections go
/// on, but one still in its opening handshake is closed with 1001 as soon as the handshake
/// completes.
#[tokio::test]
async fn keep_clients_closed_a_client_in_its_handshake() {
    let server = wsio::Server::builder()
        .route("/", |mut ws: WebSocket<wsio::Transport>, _| async move {
            while let Some(Ok(m)) = ws.next().await {
                if m.is_data() && ws.send(m).await.is_err() {
                    break;
                }
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, _) = support::serve(server);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    while handle.client_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.stop_accepting();
    let (mut ws, _) = wsio::ClientBuilder::new(&format!("ws://{addr}/"))
        .unwrap()
        .connect_on(tcp)
        .await
        .unwrap();
    ws.send_text("hi").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::text("hi"));
}

/// `close` (formerly `close(false)`) promises a 1001 to every client, but a handler that hands its
/// connection to other tasks and returns has left the client table: its client is never told.
#[tokio::test]
async fn shutdown_skipped_clients_whose_handler_returned() {
    let server = wsio::Server::builder()
        .route("/", |ws: WebSocket<wsio::Transport>, _| async move {
            let (mut rd, _wr) = ws.split();
            tokio::spawn(async move {
                let _wr = _wr;
                while let Some(Ok(_)) = rd.next().await {}
            });
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, _) = support::serve(server);
    let (mut ws, _) = wsio::connect(&format!("ws://{addr}/")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        handle.client_count(),
        1,
        "the connection is live, so it is still counted"
    );
    // close() waits for the client's part of the handshake, so the client reads meanwhile.
    let closing = tokio::spawn(async move { handle.close().await });
    let got = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
    assert!(matches!(got, Ok(Some(Ok(Message::Close(_))))), "{got:?}");
    assert!(ws.next().await.is_none());
    closing.await.unwrap();
}

/// A transport like TLS over TCP: writes land in a buffer at once; flush and shutdown wait
/// until the socket is writable, and the socket keeps one write waker (the last one given).
#[derive(Default)]
struct MockState {
    input: Vec<u8>,
    eof: bool,
    read_waker: Option<std::task::Waker>,
    writable: bool,
    write_waker: Option<std::task::Waker>,
}

#[derive(Clone, Default)]
struct Mock(std::sync::Arc<std::sync::Mutex<MockState>>);

impl AsyncRead for Mock {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut s = self.0.lock().unwrap();
        if !s.input.is_empty() {
            let n = s.input.len().min(buf.remaining());
            buf.put_slice(&s.input[..n]);
            s.input.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if s.eof {
            return Poll::Ready(Ok(()));
        }
        s.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Mock {
    fn wait_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.0.lock().unwrap();
        if s.writable {
            Poll::Ready(Ok(()))
        } else {
            s.write_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
    fn feed(&self, bytes: &[u8]) {
        let mut s = self.0.lock().unwrap();
        s.input.extend_from_slice(bytes);
        if let Some(w) = s.read_waker.take() {
            w.wake();
        }
    }
    fn become_writable(&self) {
        let mut s = self.0.lock().unwrap();
        s.writable = true;
        if let Some(w) = s.write_waker.take() {
            w.wake();
        }
    }
}

impl AsyncWrite for Mock {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wait_writable(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wait_writable(cx)
    }
}

/// The reader shuts the transport down with its own waker instead of the shared write waker,
/// which takes the transport's only write-waker slot from a writer waiting in poll_flush: when
/// the socket becomes writable only the reader wakes, completes the flush and the shutdown,
/// and the writer's send never returns.
#[tokio::test]
async fn the_readers_shutdown_stole_the_writers_wakeup() {
    let mock = Mock::default();
    let server = WebSocket::from_raw(
        mock.clone(),
        Role::Server,
        &Config::default(),
        Default::default(),
    );
    let (mut rd, mut wr) = server.split();
    let writer = tokio::spawn(async move { wr.send_text("x").await });
    tokio::time::sleep(Duration::from_millis(50)).await; // the writer waits in poll_flush
    // The client's close frame: masked, code 1000.
    let mut frame = vec![0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];
    mock.feed(&frame.split_off(0));
    let got = rd.next().await;
    assert!(matches!(got, Some(Ok(Message::Close(_)))), "{got:?}");
    let reader = tokio::spawn(async move { rd.next().await }); // goes on to shut down
    tokio::time::sleep(Duration::from_millis(50)).await;
    mock.become_writable();
    tokio::time::sleep(Duration::from_millis(50)).await;
    mock.0.lock().unwrap().eof = true;
    mock.feed(&[]);
    if let Some(w) = mock.0.lock().unwrap().read_waker.take() {
        w.wake();
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    let sent = tokio::time::timeout(Duration::from_secs(2), writer).await;
    assert!(sent.is_ok(), "the writer's send is still waiting");
}

/// `ServerHandle::close` (formerly `close(false)`) called each client's closer while holding the
/// client table's lock. A closer holds its connection for the length of the call; when the handler
/// drops the connection meanwhile, the closer's reference is the last, and dropping it removes the
/// client from the table, under the same lock: the shutdown deadlocked. Here the handler's task
/// drops the connection from inside the reader's waker, which the closer calls, so the race is hit
/// every time.
#[test]
fn server_close_deadlocked_when_a_connection_went_during_its_close() {
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    type Slot = Arc<Mutex<Option<WebSocket<wsio::Transport>>>>;
    /// A waker that drops the connection in the slot.
    struct DropOnWake(Slot);
    impl Wake for DropOnWake {
        fn wake(self: Arc<Self>) {
            self.0.lock().unwrap().take();
        }
    }

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (ws_tx, mut ws_rx) = tokio::sync::mpsc::unbounded_channel();
            let server = wsio::Server::builder()
                .fallback(move |ws, _| {
                    let _ = ws_tx.send(ws);
                    async {}
                })
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            let url = format!("ws://{}", server.local_addr().unwrap());
            let handle = server.handle();
            let task = tokio::spawn(server.run());
            let (_client, _) = wsio::connect(&url).await.unwrap();
            let slot: Slot = Arc::new(Mutex::new(ws_rx.recv().await));
            // Read once with the dropping waker, so that the reader waits on it.
            let waker = Arc::new(DropOnWake(slot.clone())).into();
            let mut cx = Context::from_waker(&waker);
            {
                let mut guard = slot.lock().unwrap();
                let ws = guard.as_mut().unwrap();
                assert!(ws.poll_next_unpin(&mut cx).is_pending());
            }
            handle.close().await;
            assert!(slot.lock().unwrap().is_none(), "the closer woke the reader");
            task.await.unwrap().unwrap();
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server's close returned");
}

/// Whether a type can be shared between threads, checked when the test compiles.
/// A transport that keeps what it is given until flushed, as TLS keeps its records, and whose
/// first flush has to wait: `wire` is what reached the network.
struct Buffering {
    kept: Vec<u8>,
    wire: Vec<u8>,
    flushes: usize,
}

impl AsyncRead for Buffering {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Buffering {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().kept.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.flushes += 1;
        if this.flushes == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let kept = std::mem::take(&mut this.kept);
        this.wire.extend_from_slice(&kept);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A send whose flush had to wait, polled again, returned at once: everything had been handed
/// to the transport, so nothing was queued, and the transport was never flushed. Over TLS the
/// last records of a message stayed in rustls while both ends waited for each other.
#[tokio::test]
async fn a_send_whose_flush_waited_left_the_transport_unflushed() {
    let transport = Buffering {
        kept: Vec::new(),
        wire: Vec::new(),
        flushes: 0,
    };
    let mut ws = WebSocket::from_raw(
        transport,
        Role::Server,
        &Config::default(),
        Default::default(),
    );
    ws.send_binary(vec![5u8; 100_000]).await.unwrap();
    let transport = ws.get_ref();
    assert!(
        transport.kept.is_empty(),
        "{} bytes never flushed",
        transport.kept.len()
    );
    assert_eq!(transport.wire.len(), 100_000 + 10);
}

fn assert_send_sync<T: Send + Sync>() {}

/// A transport that can move to another thread but not be shared between threads, as hyper's
/// `Upgraded` is. Its trait impls do not matter: whether a type is `Sync` depends on its fields.
struct SendNotSync(std::marker::PhantomData<std::cell::Cell<()>>);

/// A `WebSocket` with one handle owned its state without a lock, which made it `Sync` only if
/// the transport and the core were: the core holds its extension as `dyn Send`, so no
/// `WebSocket` and no `FrameSocket` was `Sync` any more. A future that holds `&WebSocket` across
/// an await could no longer be spawned. Before, as now, `Send` transports make every handle
/// `Send` and `Sync`. This test fails by not compiling.
#[test]
fn a_websocket_with_one_handle_was_not_sync() {
    assert_send_sync::<WebSocket<tokio::net::TcpStream>>();
    assert_send_sync::<WebSocket<wsio::Transport>>();
    assert_send_sync::<WebSocket<SendNotSync>>();
    assert_send_sync::<wsio::FrameSocket<SendNotSync>>();
    assert_send_sync::<wsio::ReadHalf<SendNotSync>>();
    assert_send_sync::<wsio::WriteHalf<SendNotSync>>();
}
