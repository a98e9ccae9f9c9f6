//! The reconnecting client against loopback servers that misbehave on purpose: they drop the
//! TCP connection mid-stream, close with 1012, refuse connections, stop answering pings and
//! stall the handshake.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use wsio::State;
use wsio::proto::Backoff;
use wsio::reconnect::Error::Connection;
use wsio::reconnect::{Builder, Event, Events, Policy, QueueError, ReconnectingClient};
use wsio::{ClientBuilder, CloseCode, Config, Message, WebSocket};

use support::LIMIT;

/// A loopback server that runs `behaviour(index, ws)` on each connection it accepts, index
/// counting from 0. Dropping it stops the server and every connection.
struct TestServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start<F, Fut>(behaviour: F) -> Self
    where
        F: Fn(usize, WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, behaviour)
    }

    fn on<F, Fut>(listener: TcpListener, behaviour: F) -> Self
    where
        F: Fn(usize, WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::with_config(listener, Config::default(), behaviour)
    }

    /// A server that answers pings itself (or not): pongs are up to `behaviour`.
    async fn manual_pongs<F, Fut>(behaviour: F) -> Self
    where
        F: Fn(usize, WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::with_config(listener, Config::default().auto_pong(false), behaviour)
    }

    fn with_config<F, Fut>(listener: TcpListener, config: Config, behaviour: F) -> Self
    where
        F: Fn(usize, WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let behaviour = Arc::new(behaviour);
        let task = tokio::spawn(async move {
            // Dropped with this task: aborts every connection.
            let mut connections = JoinSet::new();
            for index in 0.. {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (behaviour, config) = (behaviour.clone(), config.clone());
                connections.spawn(async move {
                    let accept = |_: &wsio::UpgradeRequest<'_>| Ok(wsio::Accept::new());
                    if let Ok(ws) = wsio::accept_with(tcp, &config, accept).await {
                        behaviour(index, ws).await;
                    }
                });
            }
        });
        TestServer { addr, task }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

/// Fast settings: 50 ms initial delay, no jitter.
fn builder(url: &str) -> Builder {
    Builder::new(ClientBuilder::new(url).unwrap()).policy(
        Policy::default().backoff(
            Backoff::default()
                .initial(Duration::from_millis(50))
                .max(Duration::from_millis(400)),
        ),
    )
}

/// A loopback port with nothing listening on it, for now.
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn url_of(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/")
}

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(LIMIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the client is running")
}

/// Every status the client takes, as a watcher task sees them.
fn record_statuses(client: &ReconnectingClient) -> Arc<Mutex<Vec<State>>> {
    let seen = Arc::new(Mutex::new(vec![client.state()]));
    let mut changes = client.state_changes();
    let record = seen.clone();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let status = *changes.borrow_and_update();
            record.lock().unwrap().push(status);
            if status == State::Closed {
                return;
            }
        }
    });
    seen
}

/// Reads the server's side until it ends, keeping the text messages.
async fn drain(mut ws: WebSocket<TcpStream>, into: Arc<Mutex<Vec<String>>>) {
    while let Some(Ok(message)) = ws.recv().await {
        if let Message::Text(text) = message {
            into.lock().unwrap().push(text.as_str().to_owned());
        }
    }
}

/// A server that closes each connection at once with 1012 (Service Restart).
async fn closing_server() -> TestServer {
    TestServer::start(|_, mut ws| async move {
        ws.close(CloseCode::SERVICE_RESTART, "").await.unwrap();
        while ws.recv().await.is_some() {}
    })
    .await
}

async fn stop(client: ReconnectingClient, mut events: Events) {
    tokio::time::timeout(LIMIT, client.close(CloseCode::NORMAL, ""))
        .await
        .expect("the close ends in time")
        .unwrap();
    tokio::time::timeout(LIMIT, async { while events.recv().await.is_some() {} })
        .await
        .expect("the client stops in time");
    assert_eq!(client.state(), State::Closed);
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_and_reported() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let server = TestServer::start(move |index, mut ws| {
        let log = log.clone();
        async move {
            if index == 0 {
                // One message, then the TCP connection goes without a close frame.
                if let Some(Ok(Message::Text(text))) = ws.recv().await {
                    log.lock().unwrap().push(text.as_str().to_owned());
                }
                return;
            }
            drain(ws, log).await;
        }
    })
    .await;
    let (client, mut events) = builder(&server.url()).start();
    let statuses = record_statuses(&client);
    client.send_text("first").unwrap();

    let Event::Connected { session, response } = next(&mut events).await else {
        panic!("connected first");
    };
    assert_eq!(response.status(), 101);
    assert_eq!((session.attempt, session.is_reconnect), (0, false));
    assert!(session.previous.is_none());

    let closed = loop {
        match next(&mut events).await {
            Event::Closed(disconnect) => break disconnect,
            Event::Error(_) | Event::Unsent(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(closed.opened);
    assert!(!closed.was_clean);
    assert_eq!(closed.code, None);
    assert!(closed.error.is_some());
    assert_eq!(closed.attempt, 0);

    let Event::Reconnecting {
        attempt,
        delay,
        previous,
    } = next(&mut events).await
    else {
        panic!("reconnecting after the drop");
    };
    assert_eq!((attempt, delay), (1, Duration::from_millis(50)));
    assert!(previous.opened && !previous.was_clean && previous.error.is_some());
    let Event::Connected { session, .. } = next(&mut events).await else {
        panic!("connected again");
    };
    assert_eq!((session.attempt, session.is_reconnect), (1, true));
    let previous = session.previous.expect("the previous connection");
    assert!(previous.opened && !previous.was_clean);

    client.send_text("second").unwrap();
    stop(client, events).await;
    assert_eq!(*received.lock().unwrap(), ["first", "second"]);
    assert_eq!(
        *statuses.lock().unwrap(),
        [
            State::Connecting,
            State::Open,
            State::Reconnecting,
            State::Open,
            State::Closing,
            State::Closed
        ]
    );
}

#[tokio::test]
async fn a_server_restart_close_is_followed_by_a_reconnection() {
    let server = TestServer::start(|index, mut ws| async move {
        if index == 0 {
            ws.close(CloseCode::SERVICE_RESTART, "restarting")
                .await
                .unwrap();
        }
        while ws.recv().await.is_some() {}
    })
    .await;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    let Event::Closed(closed) = next(&mut events).await else {
        panic!("closed by the server");
    };
    assert_eq!(closed.code, Some(CloseCode::SERVICE_RESTART));
    assert_eq!(closed.reason.as_str(), "restarting");
    assert!(closed.was_clean);
    assert!(closed.error.is_none());
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { attempt: 1, .. }
    ));
    let Event::Connected { session, .. } = next(&mut events).await else {
        panic!("connected again");
    };
    let previous = session.previous.unwrap();
    assert_eq!(previous.code, Some(CloseCode::SERVICE_RESTART));
    assert!(previous.was_clean);
    stop(client, events).await;
}

#[tokio::test]
async fn refused_attempts_follow_the_backoff_then_connect() {
    let port = free_port().await;
    let jitter = Duration::from_millis(30);
    let backoff = Backoff::default()
        .initial(Duration::from_millis(40))
        .multiplier(2.0)
        .max(Duration::from_millis(200))
        .jitter(jitter);
    let (client, mut events) = Builder::new(ClientBuilder::new(&url_of(port)).unwrap())
        .policy(Policy::default().backoff(backoff.clone()))
        .start();
    let statuses = record_statuses(&client);

    let refusals = 5;
    let mut last_error_at = None;
    for expected in 1..=refusals {
        let Event::Error(error) = next(&mut events).await else {
            panic!("a refused attempt");
        };
        assert!(matches!(*error, Connection(wsio::Error::Io(_))), "{error}");
        if let Some((at, delay)) = last_error_at.take() {
            // The attempt came no sooner than its delay.
            assert!(Instant::now().duration_since(at) >= delay);
        }
        let Event::AttemptFailed(failed) = next(&mut events).await else {
            panic!("the failed attempt described");
        };
        assert!(!failed.opened && !failed.was_clean && failed.code.is_none());
        assert!(Arc::ptr_eq(failed.error.as_ref().unwrap(), &error));
        assert_eq!(failed.attempt, expected - 1);
        let Event::Reconnecting {
            attempt,
            delay,
            previous,
        } = next(&mut events).await
        else {
            panic!("a reconnection");
        };
        assert_eq!(attempt, expected);
        assert_eq!(client.attempt(), expected);
        assert_eq!(previous.attempt, expected - 1);
        assert!(!previous.opened);
        let base = backoff.base_delay(expected);
        assert!(
            delay >= base && delay <= base + jitter,
            "{delay:?} outside {base:?} + {jitter:?}"
        );
        last_error_at = Some((Instant::now(), delay));
    }
    assert!(client.last_error().is_some());
    // Now the server comes up on that port.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let _server = TestServer::on(listener, |_, ws| async move {
        drain(ws, Arc::default()).await;
    });
    let session = loop {
        match next(&mut events).await {
            Event::Connected { session, .. } => break session,
            Event::Error(_) | Event::AttemptFailed(_) | Event::Reconnecting { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(session.attempt >= refusals);
    assert!(!session.is_reconnect);
    assert!(!session.previous.unwrap().opened);
    stop(client, events).await;
    let statuses = statuses.lock().unwrap();
    assert_eq!(
        statuses[..3],
        [State::Connecting, State::Reconnecting, State::Open]
    );
}

#[tokio::test]
async fn the_attempt_limit_stops_the_client_and_hands_the_queue_back() {
    let port = free_port().await;
    let (client, mut events) = Builder::new(ClientBuilder::new(&url_of(port)).unwrap())
        .policy(
            Policy::default().backoff(
                Backoff::default()
                    .initial(Duration::from_millis(10))
                    .max_attempts(Some(3)),
            ),
        )
        .start();
    client.send_text("one").unwrap();
    client.send_binary(vec![2u8]).unwrap();
    let mut kinds = Vec::new();
    let unsent = loop {
        match next(&mut events).await {
            Event::Error(_) => kinds.push("error"),
            Event::AttemptFailed(_) => kinds.push("failed"),
            Event::Reconnecting { attempt, .. } => {
                kinds.push(["r1", "r2", "r3"][attempt as usize - 1])
            }
            Event::Unsent(messages) => break messages,
            other => panic!("unexpected {other:?}"),
        }
    };
    // The first attempt and three more.
    assert_eq!(
        kinds,
        [
            "error", "failed", "r1", "error", "failed", "r2", "error", "failed", "r3", "error",
            "failed"
        ]
    );
    assert_eq!(unsent, [Message::text("one"), Message::binary(vec![2u8])]);
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert!(events.recv().await.is_none());
    assert_eq!(client.state(), State::Closed);
    assert!(matches!(
        client.send_text("late"),
        Err(QueueError::Closed(_))
    ));
}

#[tokio::test]
async fn the_predicate_decides_from_the_disconnect_record() {
    let server = TestServer::start(|_, mut ws| async move {
        ws.close(CloseCode::from(4001), "banned").await.unwrap();
        while ws.recv().await.is_some() {}
    })
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let (client, mut events) = builder(&server.url())
        .policy(Policy::default().should_reconnect(move |disconnect| {
            record.lock().unwrap().push(disconnect.clone());
            disconnect.code != Some(CloseCode::from(4001))
        }))
        .start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    assert!(matches!(next(&mut events).await, Event::Closed(_)));
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert_eq!(client.state(), State::Closed);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].attempt, 0);
    assert!(seen[0].opened && seen[0].was_clean);
    assert_eq!(seen[0].reason.as_str(), "banned");
}

#[tokio::test]
async fn a_server_that_stops_answering_pings_is_given_up() {
    let server = TestServer::start(|index, ws| async move {
        if index == 0 {
            // Never reads again, so never answers a ping; the connection stays up.
            tokio::time::sleep(LIMIT).await;
            drop(ws);
        } else {
            let mut ws = ws;
            ws.ping(&b"hello"[..]).await.unwrap();
            drain(ws, Arc::default()).await;
        }
    })
    .await;
    let client = ClientBuilder::new(&server.url())
        .unwrap()
        .ping_interval(Some(Duration::from_millis(100)))
        .ping_payload(&b"still there?"[..])
        .pong_timeout(Duration::from_millis(200));
    let (client, mut events) = Builder::new(client).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    let error = loop {
        match next(&mut events).await {
            Event::Error(error) => break error,
            Event::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        matches!(
            &*error,
            Connection(wsio::Error::Connection(
                wsio::proto::ConnectionError::KeepaliveTimeout
            ))
        ),
        "{error}"
    );
    assert!(matches!(next(&mut events).await, Event::Closed(d) if !d.was_clean));
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { .. }
    ));
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    // The server's ping is reported (and answered); the keepalive's pong carries its payload.
    let (mut ping, mut pong) = (None, None);
    while ping.is_none() || pong.is_none() {
        match next(&mut events).await {
            Event::Ping(payload) => ping = Some(payload),
            Event::Pong(payload) => pong = Some(payload),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ping.unwrap(), &b"hello"[..]);
    assert_eq!(pong.unwrap(), &b"still there?"[..]);
    stop(client, events).await;
}

#[tokio::test]
async fn a_stalled_handshake_times_out_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts TCP and never answers the handshake.
    let stall = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let client = ClientBuilder::new(&format!("ws://{addr}/"))
        .unwrap()
        .handshake_timeout(Duration::from_millis(150));
    let policy = Policy::default().backoff(
        Backoff::default()
            .initial(Duration::from_millis(10))
            .max_attempts(Some(1)),
    );
    let (_client, mut events) = Builder::new(client).policy(policy).start();
    for attempt in 0..2 {
        let Event::Error(error) = next(&mut events).await else {
            panic!("the handshake timed out");
        };
        assert!(
            matches!(
                *error,
                Connection(wsio::Error::Timeout(wsio::Phase::Handshake))
            ),
            "{error}"
        );
        assert!(matches!(
            next(&mut events).await,
            Event::AttemptFailed(failed) if failed.attempt == attempt
        ));
        if attempt == 0 {
            assert!(matches!(
                next(&mut events).await,
                Event::Reconnecting { attempt: 1, .. }
            ));
        }
    }
    assert!(matches!(next(&mut events).await, Event::Stopped));
    stall.abort();
}

#[tokio::test]
async fn the_restore_hook_runs_before_queued_messages_are_sent() {
    let port = free_port().await;
    let (client, mut events) = builder(&url_of(port))
        .on_restore(|mut session| async move {
            let attempt = session.info().attempt;
            session.send_text(format!("login {attempt}")).await?;
            // The server's answer is read here, not delivered as an event.
            match session.recv().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "welcome" => Ok(()),
                other => panic!("expected the welcome, got {other:?}"),
            }
        })
        .start();
    // Queued while no server is there.
    for i in 0..5 {
        client.send_text(format!("queued {i}")).unwrap();
    }
    assert!(matches!(next(&mut events).await, Event::Error(_)));
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let _server = TestServer::on(listener, move |_, mut ws| {
        let log = log.clone();
        async move {
            if let Some(Ok(Message::Text(login))) = ws.recv().await {
                log.lock().unwrap().push(login.as_str().to_owned());
                ws.send_text("welcome").await.unwrap();
            }
            drain(ws, log).await;
        }
    });
    loop {
        match next(&mut events).await {
            Event::Connected { .. } => break,
            Event::Error(_) | Event::AttemptFailed(_) | Event::Reconnecting { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    stop(client, events).await;
    let received = received.lock().unwrap();
    assert!(received[0].starts_with("login "), "{received:?}");
    assert_eq!(
        received[1..],
        ["queued 0", "queued 1", "queued 2", "queued 3", "queued 4"]
    );
}

#[tokio::test]
async fn a_failing_restore_hook_counts_as_a_failed_connection() {
    let server = TestServer::start(|_, ws| async move { drain(ws, Arc::default()).await }).await;
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let (client, mut events) = builder(&server.url())
        .policy(
            Policy::default().backoff(
                Backoff::default()
                    .initial(Duration::from_millis(10))
                    .max_attempts(Some(1)),
            ),
        )
        .on_restore(move |_| {
            *count.lock().unwrap() += 1;
            async { Err(wsio::Error::Closed) }
        })
        .start();
    assert!(matches!(next(&mut events).await, Event::Error(_)));
    // The handshake succeeded, the session did not open: a failed attempt.
    assert!(matches!(
        next(&mut events).await,
        Event::AttemptFailed(failed) if failed.opened && failed.attempt == 0
    ));
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { attempt: 1, .. }
    ));
    assert!(matches!(next(&mut events).await, Event::Error(_)));
    assert!(matches!(
        next(&mut events).await,
        Event::AttemptFailed(failed) if failed.attempt == 1
    ));
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert_eq!(*calls.lock().unwrap(), 2);
    drop(client);
}

#[tokio::test]
async fn close_sends_what_is_queued_then_closes_cleanly() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let closes = Arc::new(Mutex::new(Vec::new()));
    let (log, close_log) = (received.clone(), closes.clone());
    let server = TestServer::start(move |_, mut ws| {
        let (log, close_log) = (log.clone(), close_log.clone());
        async move {
            while let Some(Ok(message)) = ws.recv().await {
                // Slow: the client stays in `Closing` for a while.
                tokio::time::sleep(Duration::from_millis(20)).await;
                match message {
                    Message::Text(text) => log.lock().unwrap().push(text.as_str().to_owned()),
                    Message::Close(frame) => close_log.lock().unwrap().push(frame),
                    _ => {}
                }
            }
        }
    })
    .await;
    let (client, mut events) = builder(&server.url()).start();
    let statuses = record_statuses(&client);
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    for i in 0..3 {
        client.send_text(i.to_string()).unwrap();
    }
    let close = client.close(CloseCode::NORMAL, "bye");
    tokio::pin!(close);
    assert!(futures_util::FutureExt::now_or_never(close.as_mut()).is_none());
    // Closing from the call on: what is sent now is refused, with the message.
    assert_eq!(client.state(), State::Closing);
    assert!(
        matches!(client.send_text("late"), Err(QueueError::Closed(m)) if m == Message::text("late"))
    );
    assert!(client.ready().await.is_err());
    let Event::Closed(closed) = next(&mut events).await else {
        panic!("closed");
    };
    assert!(closed.was_clean);
    assert_eq!(closed.code, Some(CloseCode::NORMAL));
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert!(events.recv().await.is_none());
    // The close returns the disconnect the event reported.
    let returned = close.await.unwrap().expect("a connection was open");
    assert_eq!(
        (returned.code, returned.was_clean),
        (closed.code, closed.was_clean)
    );
    assert_eq!(*received.lock().unwrap(), ["0", "1", "2"]);
    let closes = closes.lock().unwrap();
    let frame = closes[0].as_ref().unwrap();
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::NORMAL, "bye")
    );
    assert_eq!(
        statuses.lock().unwrap()[1..],
        [State::Open, State::Closing, State::Closed]
    );
}

#[tokio::test]
async fn cancel_stops_during_a_backoff_wait() {
    let port = free_port().await;
    let (client, mut events) = Builder::new(ClientBuilder::new(&url_of(port)).unwrap())
        .policy(Policy::default().backoff(Backoff::default().initial(Duration::from_secs(3600))))
        .start();
    client.send_text("never sent").unwrap();
    assert!(matches!(next(&mut events).await, Event::Error(_)));
    assert!(matches!(next(&mut events).await, Event::AttemptFailed(_)));
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { .. }
    ));
    assert_eq!(client.state(), State::Reconnecting);
    client.cancel();
    // An hour's delay, yet the client stops now.
    let Event::Unsent(unsent) = next(&mut events).await else {
        panic!("the queue handed back");
    };
    assert_eq!(unsent, [Message::text("never sent")]);
    assert!(matches!(next(&mut events).await, Event::Stopped));
    client.stopped().await;
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_ready_waits_for_room() {
    let port = free_port().await;
    let (client, events) = builder(&url_of(port)).queue_capacity(2).start();
    client.send_text("a").unwrap();
    client.ping(&b"b"[..]).unwrap();
    assert!(matches!(client.send_text("c"), Err(QueueError::Full(m)) if m == Message::text("c")));
    assert!(matches!(
        client.ping(vec![0; 126]),
        Err(QueueError::Invalid(_))
    ));
    assert_eq!(client.pending(), 2);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), client.ready())
            .await
            .is_err()
    );
    // Nobody reads events: they are kept, the queue comes back through `take_unsent`.
    drop(events);
    client.cancel();
    assert!(client.ready().await.is_err());
    client.stopped().await;
    assert_eq!(
        client.take_unsent(),
        [
            Message::text("a"),
            Message::Ping(bytes::Bytes::from_static(b"b"))
        ]
    );
}

/// 10,000 messages while the server drops the connection 20 times: each message accepted by
/// `send` reaches the server once, in order, or is handed back (or both, when it arrived but
/// its confirmation did not).
#[tokio::test]
async fn soak_nothing_accepted_is_lost_across_twenty_drops() {
    const MESSAGES: u64 = 10_000;
    const DROPS: usize = 20;
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let server = TestServer::start(move |index, mut ws| {
        let log = log.clone();
        async move {
            let mut count = 0;
            while let Some(Ok(message)) = ws.recv().await {
                if let Message::Binary(data) = message {
                    let seq = u64::from_be_bytes(data[..].try_into().unwrap());
                    log.lock().unwrap().push(seq);
                    count += 1;
                    if index < DROPS && count == 150 + 10 * index {
                        // Gone without a close frame, with unread data: a reset.
                        return;
                    }
                }
            }
        }
    })
    .await;
    let (client, mut events) = builder(&server.url())
        .policy(Policy::default().backoff(Backoff::default().initial(Duration::from_millis(5))))
        .queue_capacity(256)
        .start();
    let collect = tokio::spawn(async move {
        let (mut unsent, mut connections, mut drops) = (Vec::new(), 0, 0);
        while let Some(event) = events.recv().await {
            match event {
                Event::Unsent(messages) => unsent.extend(messages),
                Event::Connected { .. } => connections += 1,
                Event::Closed(disconnect) if !disconnect.was_clean => drops += 1,
                _ => {}
            }
        }
        (unsent, connections, drops)
    });
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(60), async {
        for seq in 0..MESSAGES {
            support::send_waiting(&client, Message::binary(seq.to_be_bytes().to_vec())).await;
        }
        client.close(CloseCode::NORMAL, "done").await.unwrap();
    })
    .await
    .expect("the soak finishes in time");
    let (unsent, connections, drops) = collect.await.unwrap();
    let received = received.lock().unwrap();
    // Exactly once, in order.
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "duplicated or out of order"
    );
    let unsent: Vec<u64> = unsent
        .iter()
        .map(|m| u64::from_be_bytes(m.payload().try_into().unwrap()))
        .collect();
    // Handed back oldest first, across all the connections.
    assert!(
        unsent.windows(2).all(|w| w[0] < w[1]),
        "handed back out of order"
    );
    let received_set: std::collections::HashSet<u64> = received.iter().copied().collect();
    let unsent_set: std::collections::HashSet<u64> = unsent.iter().copied().collect();
    let lost: Vec<u64> = (0..MESSAGES)
        .filter(|seq| !received_set.contains(seq) && !unsent_set.contains(seq))
        .collect();
    assert_eq!(
        lost,
        [] as [u64; 0],
        "accepted, neither received nor handed back"
    );
    assert_eq!(drops, DROPS);
    assert_eq!(connections, DROPS + 1);
    let both = received_set.intersection(&unsent_set).count();
    eprintln!(
        "soak: {MESSAGES} accepted in {:?}, {connections} connections, {drops} drops; \
         received once in order {}, handed back {} (of which also received {both}), lost 0",
        started.elapsed(),
        received.len(),
        unsent.len(),
    );
}

/// The server goes away entirely (listener and connections) and comes back on the same port.
#[tokio::test]
async fn the_client_survives_a_server_restart() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let serve = |log: Arc<Mutex<Vec<String>>>| {
        move |_, ws| {
            let log = log.clone();
            async move { drain(ws, log).await }
        }
    };
    let server = TestServer::start(serve(received.clone())).await;
    let addr = server.addr;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    client.send_text("before").unwrap();
    while client.pending() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(server);
    loop {
        if let Event::Closed(_) = next(&mut events).await {
            break;
        }
    }
    client.send_text("during").unwrap();
    let server = TestServer::on(
        TcpListener::bind(addr).await.unwrap(),
        serve(received.clone()),
    );
    loop {
        if let Event::Connected { session, .. } = next(&mut events).await {
            assert!(session.is_reconnect);
            break;
        }
    }
    client.send_text("after").unwrap();
    stop(client, events).await;
    drop(server);
    assert_eq!(*received.lock().unwrap(), ["before", "during", "after"]);
}

/// Whether a ping payload is one of the client's confirmation pings.
fn is_confirmation(payload: &[u8]) -> bool {
    payload.starts_with(b"wsio-ack:")
}

/// Waits until the server has confirmed everything the client wrote.
async fn confirmed(client: &ReconnectingClient) {
    tokio::time::timeout(LIMIT, async {
        while client.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("everything confirmed in time");
}

/// RFC 6455 section 5.5.3 lets a server answer only the latest of several pings. A
/// confirmation ping the server passed over for a keepalive ping is sent again.
#[tokio::test]
async fn a_confirmation_ping_the_server_passed_over_is_sent_again() {
    let server = TestServer::manual_pongs(|_, mut ws| async move {
        // Holds the first confirmation ping; when the next ping comes, answers that one only.
        let mut held = false;
        while let Some(Ok(message)) = ws.recv().await {
            if let Message::Ping(payload) = message {
                if is_confirmation(&payload) && !held {
                    held = true;
                } else if ws.pong(payload).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let client = ClientBuilder::new(&server.url())
        .unwrap()
        .ping_interval(Some(Duration::from_millis(100)));
    let (client, mut events) = Builder::new(client).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    client.send_text("a").unwrap();
    confirmed(&client).await;
    stop(client, events).await;
}

/// One confirmation ping is outstanding at a time, and a pong that answers none of them
/// (here unsolicited) brings at most one more: no storm.
#[tokio::test]
async fn one_confirmation_ping_is_outstanding_at_a_time() {
    const MESSAGES: usize = 20;
    // How many confirmation pings had come with the last message, and in all.
    let counts = Arc::new(Mutex::new((0, 0)));
    let seen = counts.clone();
    let server = TestServer::manual_pongs(move |_, mut ws| {
        let seen = seen.clone();
        async move {
            let (mut texts, mut held, mut answering) = (0, Vec::new(), false);
            while let Some(Ok(message)) = ws.recv().await {
                match message {
                    Message::Text(_) => texts += 1,
                    Message::Ping(payload) => {
                        assert!(is_confirmation(&payload));
                        seen.lock().unwrap().1 += 1;
                        if answering {
                            ws.pong(payload).await.unwrap();
                        } else {
                            held.push(payload);
                        }
                    }
                    _ => {}
                }
                if texts == MESSAGES && !answering {
                    // Three pongs that answer nothing, then the held pings, in order.
                    seen.lock().unwrap().0 = held.len();
                    for _ in 0..3 {
                        ws.pong(&b"unsolicited"[..]).await.unwrap();
                    }
                    for payload in held.drain(..) {
                        ws.pong(payload).await.unwrap();
                    }
                    answering = true;
                }
            }
        }
    })
    .await;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    for i in 0..MESSAGES {
        client.send_text(i.to_string()).unwrap();
        // Lets the client write each message on its own.
        tokio::task::yield_now().await;
    }
    confirmed(&client).await;
    stop(client, events).await;
    let (with_last_message, total) = *counts.lock().unwrap();
    assert_eq!(
        with_last_message, 1,
        "confirmation pings before the first pong"
    );
    // The first, and at most one for each unsolicited pong.
    assert!((2..=4).contains(&total), "{total} confirmation pings");
}

/// An application ping whose payload looks like a confirmation confirms nothing: its pong is
/// the application's.
#[tokio::test]
async fn an_application_ping_cannot_fake_a_confirmation() {
    // A payload like a confirmation of sequence number 0.
    let fake = [&b"wsio-ack:"[..], &0u64.to_be_bytes()].concat();
    let answered = fake.clone();
    // Answers the application's ping, never the client's confirmations.
    let server = TestServer::manual_pongs(move |_, mut ws| {
        let answered = answered.clone();
        async move {
            while let Some(Ok(message)) = ws.recv().await {
                match message {
                    Message::Ping(payload) if payload == answered => {
                        ws.pong(payload).await.unwrap();
                    }
                    _ => {}
                }
            }
        }
    })
    .await;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    client.send_text("a").unwrap();
    client.ping(fake.clone()).unwrap();
    let Event::Pong(payload) = next(&mut events).await else {
        panic!("the application's pong");
    };
    assert_eq!(payload, fake);
    assert_eq!(client.pending(), 2, "nothing confirmed");
    stop(client, events).await;
}

#[tokio::test]
async fn close_refuses_a_code_or_reason_that_cannot_be_sent() {
    let server = TestServer::start(|_, ws| async move { drain(ws, Arc::default()).await }).await;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    for code in [1004, 1005, 1006, 1015, 999, 5000] {
        let error = client.close(CloseCode::from(code), "").await.unwrap_err();
        assert!(
            matches!(error, wsio::Error::Send(wsio::proto::SendError::InvalidCloseCode(c)) if c == code),
            "{error}"
        );
    }
    let error = client
        .close(CloseCode::NORMAL, &"é".repeat(62))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            wsio::Error::Send(wsio::proto::SendError::ControlPayloadTooLong(126))
        ),
        "{error}"
    );
    // Nothing changed: the client still runs and accepts messages.
    assert_eq!(client.state(), State::Open);
    client.send_text("still open").unwrap();
    let end = client
        .close(CloseCode::NORMAL, &"é".repeat(61))
        .await
        .unwrap();
    assert!(end.expect("a connection was open").was_clean);
    stop(client, events).await;
}

/// The server stops reading: what is queued cannot be written, nor the close frame. Closing
/// still ends within the close timeout, handing back everything.
#[tokio::test]
async fn close_is_bounded_by_the_close_timeout_when_the_server_stops_reading() {
    let server = TestServer::start(|_, ws| async move {
        tokio::time::sleep(LIMIT).await;
        drop(ws);
    })
    .await;
    let client = ClientBuilder::new(&server.url())
        .unwrap()
        .close_timeout(Duration::from_millis(200));
    let (client, mut events) = Builder::new(client).queue_capacity(64).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    const MESSAGES: usize = 32;
    for _ in 0..MESSAGES {
        client.send_binary(vec![7u8; 1 << 20]).unwrap();
    }
    client.close(CloseCode::NORMAL, "bye").await.unwrap();
    let (mut unsent, mut closed) = (0, None);
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = events.recv().await {
            match event {
                Event::Unsent(messages) => unsent += messages.len(),
                Event::Closed(disconnect) => closed = Some(disconnect),
                _ => {}
            }
        }
    })
    .await
    .expect("closing ends within the close timeout");
    let closed = closed.expect("a Closed event");
    assert!(!closed.was_clean);
    assert!(
        matches!(
            closed.error.as_deref(),
            Some(Connection(wsio::Error::Connection(
                wsio::proto::ConnectionError::CloseTimeout
            )))
        ),
        "{:?}",
        closed.error
    );
    assert_eq!(
        unsent, MESSAGES,
        "nothing was confirmed: everything is handed back"
    );
    assert_eq!(client.state(), State::Closed);
}

/// When the predicate says no, or no attempt is left, the client goes from open straight to
/// closed: it never says it is reconnecting.
#[tokio::test]
async fn no_reconnecting_status_when_no_attempt_follows() {
    let server = closing_server().await;
    // The predicate looks at the status while the client decides.
    for case in 0..2 {
        let status: Arc<Mutex<Option<tokio::sync::watch::Receiver<State>>>> = Arc::default();
        let deciding = Arc::new(Mutex::new(Vec::new()));
        let (watch, log) = (status.clone(), deciding.clone());
        let policy = Policy::default()
            .backoff(Backoff::default().max_attempts(Some(if case == 0 { 5 } else { 0 })))
            .should_reconnect(move |_| {
                let status = *watch.lock().unwrap().as_ref().unwrap().borrow();
                log.lock().unwrap().push(status);
                // The first case refuses; the second has no attempt left.
                case == 1
            });
        let (client, mut events) = builder(&server.url()).policy(policy).start();
        *status.lock().unwrap() = Some(client.state_changes());
        let mut kinds = Vec::new();
        while let Some(event) = events.recv().await {
            kinds.push(match event {
                Event::Connected { .. } => "connected",
                Event::Closed(_) => "closed",
                Event::Stopped => "stopped",
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(kinds, ["connected", "closed", "stopped"]);
        assert_eq!(*deciding.lock().unwrap(), [State::Open]);
        assert_eq!(client.state(), State::Closed);
    }
}

/// Reads the events already given, synchronously, when woken by a change of status to
/// `Closed`: the earliest an application that stops on `Closed` could look.
struct OnClosed {
    status: tokio::sync::watch::Receiver<State>,
    events: Mutex<Events>,
    seen: Mutex<Option<Vec<Event>>>,
}

impl std::task::Wake for OnClosed {
    fn wake(self: Arc<Self>) {
        if *self.status.borrow() != State::Closed {
            return;
        }
        let mut events = self.events.lock().unwrap();
        let mut seen = Vec::new();
        while let Some(Some(event)) = futures_util::FutureExt::now_or_never(events.recv()) {
            seen.push(event);
        }
        *self.seen.lock().unwrap() = Some(seen);
    }
}

#[tokio::test]
async fn messages_handed_back_come_before_the_closed_status() {
    let port = free_port().await;
    let (client, events) = builder(&url_of(port))
        .policy(Policy::default().enabled(false))
        .start();
    client.send_text("queued").unwrap();
    let on_closed = Arc::new(OnClosed {
        status: client.state_changes(),
        events: Mutex::new(events),
        seen: Mutex::new(None),
    });
    // The one change of status: connecting to closed, as the only attempt fails.
    let mut changes = client.state_changes();
    let mut changed = Box::pin(changes.changed());
    let waker = std::task::Waker::from(on_closed.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(changed.as_mut().poll(&mut cx).is_pending());
    tokio::time::timeout(LIMIT, client.stopped()).await.unwrap();
    let seen = on_closed
        .seen
        .lock()
        .unwrap()
        .take()
        .expect("woken on Closed");
    let unsent: Vec<&Message> = seen
        .iter()
        .filter_map(|event| match event {
            Event::Unsent(messages) => Some(messages),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(unsent, [&Message::text("queued")]);
}

/// A restore hook that hands its session to a task of its own and then never returns: cancel
/// still ends the connection.
#[tokio::test]
async fn cancel_ends_the_connection_while_the_restore_hook_holds_it() {
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    let ended_tx = Mutex::new(Some(ended_tx));
    let server = TestServer::start(move |_, mut ws| {
        let ended = ended_tx.lock().unwrap().take();
        async move {
            while let Some(Ok(_)) = ws.recv().await {}
            let _ = ended.unwrap().send(());
        }
    })
    .await;
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    let (client, mut events) = builder(&server.url())
        .restore_timeout(Duration::from_secs(3600))
        .on_restore(move |session| {
            let keeper = tokio::spawn(async move {
                let _session = session;
                std::future::pending::<()>().await
            });
            held_tx.send(keeper).unwrap();
            std::future::pending()
        })
        .start();
    let keeper = tokio::time::timeout(LIMIT, held.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.state(), State::Connecting);
    client.cancel();
    assert!(matches!(next(&mut events).await, Event::Stopped));
    tokio::time::timeout(LIMIT, ended)
        .await
        .expect("the server sees the connection end")
        .unwrap();
    keeper.abort();
}

#[tokio::test]
async fn a_panicking_restore_hook_stops_the_client_with_an_error() {
    let server = TestServer::start(|_, ws| async move { drain(ws, Arc::default()).await }).await;
    let (client, mut events) = builder(&server.url())
        .on_restore(|_| async { panic!("a bug in the restore hook") })
        .start();
    client.send_text("queued").unwrap();
    let Event::Error(error) = next(&mut events).await else {
        panic!("the panic reported");
    };
    assert!(
        matches!(
            *error,
            wsio::reconnect::Error::Panicked(wsio::reconnect::Callback::Restore)
        ),
        "{error}"
    );
    let Event::Unsent(unsent) = next(&mut events).await else {
        panic!("the queue handed back");
    };
    assert_eq!(unsent, [Message::text("queued")]);
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert_eq!(client.state(), State::Closed);
    assert!(client.last_error().is_some());
}

#[tokio::test]
async fn a_panicking_predicate_stops_the_client_with_an_error() {
    let server = closing_server().await;
    let (client, mut events) = builder(&server.url())
        .policy(Policy::default().should_reconnect(|_| panic!("a bug in the predicate")))
        .start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    assert!(matches!(next(&mut events).await, Event::Closed(_)));
    let Event::Error(error) = next(&mut events).await else {
        panic!("the panic reported");
    };
    assert!(
        matches!(
            *error,
            wsio::reconnect::Error::Panicked(wsio::reconnect::Callback::ShouldReconnect)
        ),
        "{error}"
    );
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert_eq!(client.state(), State::Closed);
}

/// Every `Connected` is followed by one `Closed`, even when the application cancels.
#[tokio::test]
async fn cancel_while_open_reports_the_connection_closed() {
    let server = TestServer::start(|_, ws| async move { drain(ws, Arc::default()).await }).await;
    let (client, mut events) = builder(&server.url()).start();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    client.cancel();
    let Event::Closed(closed) = next(&mut events).await else {
        panic!("closed");
    };
    assert!(closed.opened && !closed.was_clean);
    assert_eq!(closed.code, None);
    assert!(closed.error.is_none());
    assert!(matches!(next(&mut events).await, Event::Stopped));
    assert_eq!(client.state(), State::Closed);
}

/// Attempts are numbered the same way whether the first connection failed or an open one
/// dropped: the first retry is 1 either way. The getters follow along.
#[tokio::test]
async fn attempts_count_the_same_way_after_a_failed_start_and_after_a_drop() {
    let port = free_port().await;
    let target = url_of(port);
    let client = ClientBuilder::new(&target).unwrap().subprotocol("chat");
    let (client, mut events) = Builder::new(client)
        .policy(Policy::default().backoff(Backoff::default().initial(Duration::from_millis(200))))
        .start();
    assert_eq!(client.url().to_string(), target);
    assert!(client.response().is_none() && client.subprotocol().is_none());

    // Path 1: the first connection fails.
    assert!(matches!(next(&mut events).await, Event::Error(_)));
    let Event::AttemptFailed(failed) = next(&mut events).await else {
        panic!("the first attempt failed");
    };
    assert_eq!((failed.attempt, failed.opened), (0, false));
    let Event::Reconnecting {
        attempt, previous, ..
    } = next(&mut events).await
    else {
        panic!("a retry");
    };
    assert_eq!((attempt, previous.attempt), (1, 0));
    assert!(!previous.opened && previous.error.is_some());

    // The server comes up during the delay; it drops its first connection.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let server = tokio::spawn(async move {
        let mut held = JoinSet::new();
        for index in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            held.spawn(async move {
                let accept = |r: &wsio::UpgradeRequest<'_>| {
                    Ok(wsio::Accept::new().subprotocol(r.select_subprotocol(&["chat"])))
                };
                let Ok(ws) = wsio::accept_with(tcp, &Config::default(), accept).await else {
                    return;
                };
                if index > 0 {
                    drain(ws, Arc::default()).await;
                }
            });
        }
    });
    let Event::Connected { session, response } = next(&mut events).await else {
        panic!("connected on the retry");
    };
    assert_eq!((session.attempt, session.is_reconnect), (1, false));
    assert_eq!(session.previous.unwrap().attempt, 0);
    assert_eq!(client.attempt(), 1);
    assert!(Arc::ptr_eq(&client.response().unwrap(), &response));
    assert_eq!(client.subprotocol().as_deref(), Some("chat"));

    // Path 2: that connection drops.
    let closed = loop {
        match next(&mut events).await {
            Event::Closed(closed) => break closed,
            Event::Error(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((closed.attempt, closed.opened), (1, true));
    let Event::Reconnecting {
        attempt, previous, ..
    } = next(&mut events).await
    else {
        panic!("a reconnection");
    };
    assert_eq!((attempt, previous.attempt), (1, 1));
    assert!(previous.opened);
    let Event::Connected { session, .. } = next(&mut events).await else {
        panic!("connected again");
    };
    assert_eq!((session.attempt, session.is_reconnect), (1, true));
    assert_eq!(client.attempt(), 1);
    // The last response is kept after its connection ends, until the next one opens.
    assert_eq!(client.subprotocol().as_deref(), Some("chat"));
    stop(client, events).await;
    server.abort();
}

/// An idle timeout set in the core's settings ends a connection that receives nothing, with
/// 1001 to the server, and the client reconnects as after any other disconnect.
#[tokio::test]
async fn an_idle_timeout_ends_the_connection_and_the_client_reconnects() {
    let closes = Arc::new(Mutex::new(Vec::new()));
    let log = closes.clone();
    let server = TestServer::start(move |index, mut ws| {
        let log = log.clone();
        async move {
            // The first connection: silent, but listening.
            if index == 0 {
                while let Some(Ok(message)) = ws.recv().await {
                    if let Message::Close(frame) = message {
                        log.lock().unwrap().push(frame);
                    }
                }
            } else {
                // Later ones talk often enough.
                loop {
                    if ws.send_text("tick").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
    .await;
    let client = ClientBuilder::new(&server.url())
        .unwrap()
        .idle_timeout(Some(Duration::from_millis(300)));
    let (client, mut events) = Builder::new(client)
        .policy(Policy::default().backoff(Backoff::default().initial(Duration::from_millis(50))))
        .start();
    let opened = Instant::now();
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    let Event::Error(error) = next(&mut events).await else {
        panic!("the idle timeout reported");
    };
    assert!(
        matches!(
            &*error,
            Connection(wsio::Error::Connection(
                wsio::proto::ConnectionError::IdleTimeout
            ))
        ),
        "{error}"
    );
    assert!(opened.elapsed() >= Duration::from_millis(300));
    let Event::Closed(closed) = next(&mut events).await else {
        panic!("the connection ended");
    };
    assert!(closed.opened && !closed.was_clean && closed.code.is_none());
    let Event::Reconnecting {
        attempt, previous, ..
    } = next(&mut events).await
    else {
        panic!("a reconnection");
    };
    assert_eq!(attempt, 1);
    assert!(Arc::ptr_eq(
        previous.error.as_ref().unwrap(),
        closed.error.as_ref().unwrap()
    ));
    assert!(matches!(next(&mut events).await, Event::Connected { .. }));
    // The talkative server keeps the new connection open well past the timeout.
    let until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < until {
        match tokio::time::timeout_at(until.into(), events.recv()).await {
            Err(_) => break,
            Ok(Some(Event::Message(_))) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    stop(client, events).await;
    let closes = closes.lock().unwrap();
    let frame = closes[0].as_ref().expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::GOING_AWAY);
    assert_eq!(
        frame.reason.as_str(),
        "nothing received within the idle timeout"
    );
}
