//! Clients through real proxies on 127.0.0.1: tinyproxy (HTTP CONNECT, with and without Basic
//! authentication, and refusing), haproxy's TLS in front of tinyproxy (an `https://` proxy),
//! microsocks (SOCKS5 and SOCKS5h, with and without a password), Dante (SOCKS4). Each test
//! starts its own proxy and server and stops them. `scripts/setup-proxies.sh` installs the proxies.
#![cfg(all(feature = "tls", feature = "socks"))]

#[path = "support/proxies.rs"]
mod proxy_programs;
mod support;

use std::time::Duration;

use proxy_programs::{Running, Tap, dante, free_port, microsocks, tinyproxy, tls_in_front_of};
use support::LIMIT;
use wsio::proxy::{NoProxy, Proxies, Proxy, ProxyError, SocksFailure};
use wsio::reconnect::{Backoff, Builder, Event, Policy};
use wsio::{ClientBuilder, CloseCode, Error, Message, Server, Transport, WebSocket};

/// A wsio echo server on 127.0.0.1 (with TLS for `localhost` if `tls`), which closes with
/// 4002 when asked to: its URL (`ws://127.0.0.1:PORT/` or `wss://localhost:PORT/`).
async fn echo_server(tls: Option<&support::tls::Pair>) -> String {
    let builder = Server::builder().fallback(|mut ws: WebSocket<Transport>, _| async move {
        while let Some(Ok(message)) = ws.recv().await {
            if message == Message::text("close-me") {
                let _ = ws.close(CloseCode::from(4002), "asked to").await;
                return;
            }
            if message.is_data() && ws.send(message).await.is_err() {
                return;
            }
        }
    });
    let addr = support::tls::serve(builder, tls).await;
    match tls {
        Some(_) => format!("wss://localhost:{}/", addr.port()),
        None => format!("ws://{addr}/"),
    }
}

/// Echo, a 16 MiB message, and both close directions, over `client`'s connection to `url`.
async fn exercise(client: ClientBuilder) {
    let (mut ws, _) = client.clone().connect().await.unwrap();
    ws.send_text("through the tunnel").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("through the tunnel")
    );
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
    ws.send_binary(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    let info = ws
        .close(CloseCode::from(4001), "client done")
        .await
        .unwrap();
    assert!(info.was_clean, "{info:?}");
    assert_eq!(u16::from(info.code), 4001);

    let (mut ws, _) = client.connect().await.unwrap();
    ws.send_text("close-me").await.unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = ws.recv().await else {
        panic!("no close from the server")
    };
    assert_eq!(u16::from(frame.code), 4002);
    assert_eq!(frame.reason, "asked to");
}

/// The error of a connection to `url` through `proxy`, which must fail.
async fn failure(url: &str, proxy: &str) -> Error {
    ClientBuilder::new(url)
        .unwrap()
        .proxy(proxy.parse().unwrap())
        .connect()
        .await
        .unwrap_err()
}

fn proxy_error(error: Error) -> ProxyError {
    match error {
        Error::Proxy(error) => *error,
        other => panic!("not a proxy error: {other:?}"),
    }
}

#[tokio::test]
async fn http_connect_echoes_large_messages_and_close_codes() {
    tokio::time::timeout(LIMIT, async {
        let proxy = tinyproxy(None, None, &[]);
        let url = echo_server(None).await;
        let client = ClientBuilder::new(&url)
            .unwrap()
            .proxy(proxy.url("http", None).parse().unwrap());
        exercise(client).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn http_connect_with_basic_authentication() {
    tokio::time::timeout(LIMIT, async {
        let proxy = tinyproxy(None, Some(("alice", "s3cret-pass")), &[]);
        let url = echo_server(None).await;
        let through = |credentials| {
            ClientBuilder::new(&url)
                .unwrap()
                .proxy(proxy.url("http", credentials).parse().unwrap())
        };
        exercise(through(Some(("alice", "s3cret-pass")))).await;

        let error = through(Some(("alice", "wrong-hunter2")))
            .connect()
            .await
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            matches!(
                proxy_error(error),
                ProxyError::AuthenticationRequired {
                    credentials_sent: true,
                    ..
                }
            ),
            "{shown}"
        );
        let error = failure(&url, &proxy.url("http", None)).await;
        assert!(matches!(
            proxy_error(error),
            ProxyError::AuthenticationRequired {
                credentials_sent: false,
                ..
            }
        ));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn wss_runs_end_to_end_through_the_tunnel_and_the_proxy_sees_only_ciphertext() {
    tokio::time::timeout(LIMIT, async {
        let pair = support::tls::Pair::new();
        let proxy = tinyproxy(None, None, &[]);
        let tap = Tap::new(proxy.port).await;
        let url = echo_server(Some(&pair)).await;
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&pair.cert))
            .proxy(format!("http://{}", tap.addr).parse().unwrap())
            .connect()
            .await
            .unwrap();
        assert!(matches!(*ws.get_ref(), Transport::Tls(_)));
        let secret = "plaintext-only-the-server-may-read";
        ws.send_text(secret).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(secret));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(tap.saw(b"CONNECT localhost:"));
        assert!(tap.sent_len() > secret.len());
        assert!(!tap.saw(secret.as_bytes()));
        assert!(!tap.saw(b"Upgrade: websocket"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_https_proxy_carries_wss_as_tls_inside_tls() {
    tokio::time::timeout(LIMIT, async {
        // One certificate for `localhost` serves both the proxy and the server, so that the
        // one trust setting covers both.
        let pair = support::tls::Pair::new();
        let plain = tinyproxy(None, Some(("bob", "pw")), &[]);
        let proxy = tls_in_front_of(plain.port, pair.pem());
        let https_proxy: Proxy = format!("https://bob:pw@localhost:{}", proxy.port)
            .parse()
            .unwrap();

        let url = echo_server(Some(&pair)).await;
        let client = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&pair.cert))
            .proxy(https_proxy.clone());
        let (mut ws, _) = client.clone().connect().await.unwrap();
        assert!(matches!(*ws.get_ref(), Transport::TlsInTls(_)));
        drop(ws);
        exercise(client).await;

        // ws:// through the same proxy: TLS to the proxy only.
        let url = echo_server(None).await;
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&pair.cert))
            .proxy(https_proxy)
            .connect()
            .await
            .unwrap();
        assert!(matches!(*ws.get_ref(), Transport::Tls(_)));
        ws.send_text("plain inside").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("plain inside")
        );

        // A proxy whose certificate is not trusted is unreachable, and says why.
        let error = failure(&url, &format!("https://localhost:{}", proxy.port)).await;
        let ProxyError::Unreachable { source, .. } = proxy_error(error) else {
            panic!("not unreachable")
        };
        assert!(matches!(*source, Error::Tls(_)), "{source:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn socks5_and_socks5h_with_and_without_a_password() {
    tokio::time::timeout(LIMIT, async {
        let open = microsocks(None, None);
        let locked = microsocks(None, Some(("carol", "socks-pw")));
        let url = echo_server(None).await;
        let localhost_url = url.replace("127.0.0.1", "localhost");
        let through = |url: &str, proxy: String| {
            ClientBuilder::new(url)
                .unwrap()
                .proxy(proxy.parse().unwrap())
        };
        exercise(through(&url, open.url("socks5", None))).await;
        // socks5h: the proxy resolves `localhost`; socks5: the client does.
        for scheme in ["socks5", "socks5h"] {
            let (mut ws, _) = through(&localhost_url, open.url(scheme, None))
                .connect()
                .await
                .unwrap();
            ws.send_text(scheme).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(scheme));
        }
        exercise(through(
            &localhost_url,
            locked.url("socks5h", Some(("carol", "socks-pw"))),
        ))
        .await;
        // wss:// end to end through the SOCKS tunnel.
        let pair = support::tls::Pair::new();
        let wss_url = echo_server(Some(&pair)).await;
        exercise(
            through(&wss_url, locked.url("socks5h", Some(("carol", "socks-pw"))))
                .tls_config(support::tls::trusting(&pair.cert)),
        )
        .await;

        let error = failure(&url, &locked.url("socks5", Some(("carol", "hunter2")))).await;
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            matches!(
                proxy_error(error),
                ProxyError::Socks {
                    failure: SocksFailure::AuthenticationFailed,
                    ..
                }
            ),
            "{shown}"
        );
        let error = failure(&url, &locked.url("socks5", None)).await;
        assert!(matches!(
            proxy_error(error),
            ProxyError::Socks {
                failure: SocksFailure::NoAcceptableMethod,
                ..
            }
        ));
        // The proxy cannot reach the server: its reply, in words.
        let closed = format!("ws://127.0.0.1:{}/", free_port());
        let error = failure(&closed, &open.url("socks5", None)).await;
        assert!(
            matches!(proxy_error(error), ProxyError::Socks { .. }),
            "a refused target is a SOCKS reply"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn socks4_through_dante() {
    tokio::time::timeout(LIMIT, async {
        let proxy = dante();
        let pair = support::tls::Pair::new();
        for url in [echo_server(None).await, echo_server(Some(&pair)).await] {
            let client = ClientBuilder::new(&url)
                .unwrap()
                .tls_config(support::tls::trusting(&pair.cert))
                .proxy(proxy.url("socks4", Some(("someone", ""))).parse().unwrap());
            exercise(client).await;
        }
        // Nothing listens at the target: SOCKS4's refusal, in words.
        let closed = format!("ws://127.0.0.1:{}/", free_port());
        let error = failure(&closed, &proxy.url("socks4", None)).await;
        assert!(
            matches!(
                proxy_error(error),
                ProxyError::Socks {
                    failure: SocksFailure::GeneralFailure,
                    ..
                }
            ),
            "SOCKS4 reply 91"
        );
    })
    .await
    .unwrap();
}

/// SOCKS4a hands the host name to the proxy. No packaged server takes it (Dante 1.4 does
/// not), so a listener here plays the proxy: it checks the request's bytes, grants it, and
/// relays to the echo server.
#[tokio::test]
async fn socks4a_sends_the_host_name_for_the_proxy_to_resolve() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(LIMIT, async {
        let url = echo_server(None).await;
        let server_port: u16 = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = listener.local_addr().unwrap().port();
        let relay = tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 8];
            client.read_exact(&mut request).await.unwrap();
            let mut rest = Vec::new();
            // User id, then host name, each ending with a zero byte.
            while rest.iter().filter(|&&b| b == 0).count() < 2 {
                rest.push(client.read_u8().await.unwrap());
            }
            let port = u16::from_be_bytes([request[2], request[3]]);
            assert_eq!(&request[..2], [4, 1], "SOCKS4 CONNECT");
            assert_eq!(&request[4..7], [0, 0, 0], "SOCKS4a's 0.0.0.x");
            assert_eq!(rest, b"dan\0localhost\0");
            client
                .write_all(&[0, 0x5a, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
            let mut server = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        let url = format!("ws://localhost:{server_port}/");
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .proxy(
                format!("socks4a://dan@127.0.0.1:{proxy_port}")
                    .parse()
                    .unwrap(),
            )
            .connect()
            .await
            .unwrap();
        ws.send_text("4a").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("4a"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        relay.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refusing_or_absent_proxy_is_a_typed_error() {
    tokio::time::timeout(LIMIT, async {
        let url = echo_server(None).await;
        // tinyproxy allowing tunnels to port 443 only answers 403 for the server's port.
        let strict = tinyproxy(None, None, &[443]);
        let error = failure(&url, &strict.url("http", None)).await;
        assert!(matches!(proxy_error(error), ProxyError::Refused { status, .. } if status == 403));
        // Nothing listens where the proxy should be.
        let absent = format!("http://u:hunter2@127.0.0.1:{}", free_port());
        let error = failure(&url, &absent).await;
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let ProxyError::Unreachable { source, .. } = proxy_error(error) else {
            panic!("{shown}")
        };
        assert!(matches!(*source, Error::Io(_)), "{shown}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_environment_chooses_the_proxy_and_no_proxy_bypasses_it() {
    tokio::time::timeout(LIMIT, async {
        let proxy = tinyproxy(None, None, &[]);
        let tap = Tap::new(proxy.port).await;
        let url = echo_server(None).await;
        let port = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned();
        let tap_url = format!("http://{}", tap.addr);
        let env = |no_proxy: &'static str| {
            let tap_url = tap_url.clone();
            Proxies::from_vars(move |name| match name {
                "http_proxy" => Some(tap_url.clone()),
                "no_proxy" => Some(no_proxy.to_owned()),
                _ => None,
            })
        };
        let connect = |proxies: Proxies| {
            let url = url.clone();
            async move {
                let (mut ws, _) = ClientBuilder::new(&url)
                    .unwrap()
                    .proxies(proxies)
                    .connect()
                    .await
                    .unwrap();
                ws.send_text("hi").await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
            }
        };
        connect(env("")).await;
        let through = tap.sent_len();
        assert!(through > 0, "http_proxy was used");
        for bypass in ["127.0.0.1", "127.0.0.0/8", "*"] {
            connect(env(bypass)).await;
            assert_eq!(tap.sent_len(), through, "{bypass} goes direct");
        }
        let only_this_port: &'static str = Box::leak(format!("127.0.0.1:{port}").into_boxed_str());
        connect(env(only_this_port)).await;
        assert_eq!(tap.sent_len(), through);
        connect(env("127.0.0.1:1")).await;
        assert!(
            tap.sent_len() > through,
            "another port's entry does not bypass"
        );
        // An explicit `no_proxy()` wins over the environment.
        let before = tap.sent_len();
        connect(env("").no_proxy(NoProxy::parse("localhost"))).await;
        assert!(tap.sent_len() > before);
    })
    .await
    .unwrap();
}

/// A proxy started on `port` by `start`, killed mid-connection and started again: the
/// reconnecting client's attempts fail with a proxy error while it is gone, and it gets
/// through once it is back.
async fn reconnect_through(start: impl Fn(u16) -> Running, scheme: &str) {
    let port = free_port();
    let mut proxy = start(port);
    let url = echo_server(None).await;
    let client = ClientBuilder::new(&url)
        .unwrap()
        .proxy(proxy.url(scheme, None).parse().unwrap());
    let (client, mut events) = Builder::new(client)
        .policy(
            Policy::default().backoff(
                Backoff::default()
                    .initial(Duration::from_millis(50))
                    .max(Duration::from_millis(200)),
            ),
        )
        .start();
    next_connected(&mut events).await;
    echoed(&client, &mut events, "first").await;
    proxy.kill();
    let mut failed_attempts = 0;
    while failed_attempts < 2 {
        if let Event::AttemptFailed(_) = events.recv().await.unwrap() {
            failed_attempts += 1;
        }
    }
    let error = client.last_error().expect("the attempts failed");
    assert!(
        matches!(*error, wsio::reconnect::Error::Connection(Error::Proxy(_))),
        "{scheme}: {error:?}"
    );
    let _proxy = start(port);
    next_connected(&mut events).await;
    echoed(&client, &mut events, "second").await;
    client.cancel();
}

/// Sends `text` through the reconnecting client and waits for its echo.
async fn echoed(
    client: &wsio::reconnect::ReconnectingClient,
    events: &mut wsio::reconnect::Events,
    text: &str,
) {
    client.send_text(text.to_owned()).unwrap();
    loop {
        if let Event::Message(message) = events.recv().await.unwrap() {
            assert_eq!(message, Message::text(text));
            return;
        }
    }
}

#[tokio::test]
async fn the_reconnecting_client_reconnects_through_a_proxy_that_came_back() {
    tokio::time::timeout(LIMIT, async {
        reconnect_through(|port| tinyproxy(Some(port), None, &[]), "http").await;
        reconnect_through(|port| microsocks(Some(port), None), "socks5h").await;
    })
    .await
    .unwrap();
}

#[test]
fn the_blocking_client_goes_through_each_kind_of_proxy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pair = support::tls::Pair::new();
    let (ws_url, wss_url) =
        runtime.block_on(async { (echo_server(None).await, echo_server(Some(&pair)).await) });
    let http = tinyproxy(None, Some(("dave", "pw")), &[]);
    let https = tls_in_front_of(http.port, pair.pem());
    let socks = microsocks(None, Some(("erin", "pw")));
    let socks4 = dante();
    let proxies = [
        socks4.url("socks4", None),
        http.url("http", Some(("dave", "pw"))),
        format!("https://dave:pw@localhost:{}", https.port),
        socks.url("socks5", Some(("erin", "pw"))),
        socks.url("socks5h", Some(("erin", "pw"))),
    ];
    for proxy in &proxies {
        for url in [&ws_url, &wss_url] {
            let (mut ws, _) = ClientBuilder::new(url)
                .unwrap()
                .tls_config(support::tls::trusting(&pair.cert))
                .proxy(proxy.parse().unwrap())
                .connect_timeout(LIMIT)
                .connect_blocking()
                .unwrap_or_else(|e| panic!("{proxy} {url}: {e}"));
            let big = vec![7u8; 4 << 20];
            ws.send_binary(big.clone()).unwrap();
            assert_eq!(ws.recv().unwrap(), Message::binary(big), "{proxy} {url}");
            let info = ws
                .close(CloseCode::from(4001), "bye")
                .unwrap_or_else(|e| panic!("{proxy} {url}: {e}"));
            assert!(info.was_clean, "{proxy} {url}");
        }
    }
    let error = ClientBuilder::new(&ws_url)
        .unwrap()
        .proxy(http.url("http", Some(("dave", "hunter2"))).parse().unwrap())
        .connect_blocking()
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("hunter2"));
    assert!(matches!(
        proxy_error(error),
        ProxyError::AuthenticationRequired { .. }
    ));
}

/// Waits for the reconnecting client's next connection.
async fn next_connected(events: &mut wsio::reconnect::Events) {
    loop {
        if let Event::Connected { .. } = events.recv().await.expect("the client is running") {
            return;
        }
    }
}

/// HTTP/2 (RFC 8441) through a tunnel: the HTTP/2 connection runs inside it, in cleartext and
/// with TLS (ALPN `h2` end to end).
#[cfg(feature = "http2")]
#[tokio::test]
async fn http2_connections_go_through_the_tunnel_too() {
    tokio::time::timeout(LIMIT, async {
        let proxy = tinyproxy(None, None, &[]);
        let pair = support::tls::Pair::new();
        for url in [echo_server(None).await, echo_server(Some(&pair)).await] {
            let client = ClientBuilder::new(&url)
                .unwrap()
                .tls_config(support::tls::trusting(&pair.cert))
                .proxy(proxy.url("http", None).parse().unwrap())
                .http2();
            let (mut ws, _) = client.connect().await.unwrap();
            assert!(matches!(*ws.get_ref(), Transport::Http2(_)), "{url}");
            ws.send_text("h2 in a tunnel").await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap().unwrap(),
                Message::text("h2 in a tunnel")
            );
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }
    })
    .await
    .unwrap();
}
