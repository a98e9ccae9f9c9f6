//! Servers behind real load balancers and reverse proxies on 127.0.0.1: haproxy writing the
//! PROXY protocol (`send-proxy`, `send-proxy-v2`) in front of the async and the blocking
//! server, in cleartext and with TLS passed through; nginx upgrading WebSocket connections
//! and naming the client in `X-Forwarded-For` and `Forwarded`. What the handler sees as the
//! client's address is checked against the client's own. `scripts/setup-proxies.sh` installs
//! haproxy and nginx.
#![cfg(feature = "tls")]

#[path = "support/proxies.rs"]
mod proxy_programs;
mod support;

use std::io::Write;
use std::net::SocketAddr;

use proxy_programs::{haproxy_sending, nginx_in_front_of};
use support::LIMIT;
use wsio::blocking::Stream;
use wsio::{ClientBuilder, CloseCode, Message, Server, ServerRequest, Transport, WebSocket};

/// What the handler saw of the connection: its first message is `peer_addr proxy_addr
/// x-forwarded-for forwarded`, then it echoes.
fn describe(request: &ServerRequest) -> String {
    let header = |name: &str| {
        request
            .request
            .headers()
            .get(name)
            .map_or("-".to_owned(), |value| value.to_str().unwrap().to_owned())
    };
    let addr = |addr: Option<SocketAddr>| addr.map_or("-".to_owned(), |a| a.to_string());
    format!(
        "{} {} {} {}",
        addr(request.peer_addr),
        addr(request.proxy_addr),
        header("x-forwarded-for"),
        header("forwarded"),
    )
}

async fn describing_echo(mut ws: WebSocket<Transport>, request: ServerRequest) {
    if ws.send_text(describe(&request)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// An async server on 127.0.0.1 that describes each connection, expecting the PROXY protocol
/// if `proxy_protocol`, with TLS if `tls`: its port.
async fn describing_server(proxy_protocol: bool, tls: Option<&support::tls::Pair>) -> u16 {
    let builder = Server::builder()
        .proxy_protocol(proxy_protocol)
        .fallback(describing_echo);
    support::tls::serve(builder, tls).await.port()
}

/// Connects to `url`, reads the description, and checks an echo of 16 MiB and a close code.
async fn described(client: ClientBuilder) -> (String, SocketAddr) {
    let (mut ws, _) = client.connect().await.unwrap();
    let local = ws.get_ref().local_addr().unwrap();
    let Some(Ok(Message::Text(description))) = ws.recv().await else {
        panic!("no description")
    };
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 253) as u8).collect();
    ws.send_binary(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    let info = ws.close(CloseCode::from(4003), "done").await.unwrap();
    assert!(info.was_clean, "{info:?}");
    assert_eq!(u16::from(info.code), 4003);
    (description.to_string(), local)
}

#[tokio::test]
async fn haproxy_send_proxy_v1_and_v2_give_the_handler_the_clients_address() {
    tokio::time::timeout(LIMIT, async {
        let pair = support::tls::Pair::new();
        for send in ["send-proxy", "send-proxy-v2"] {
            for tls in [None, Some(&pair)] {
                let backend = describing_server(true, tls).await;
                let balancer = haproxy_sending(backend, send);
                let url = match tls {
                    Some(_) => format!("wss://localhost:{}/", balancer.port),
                    None => format!("ws://127.0.0.1:{}/", balancer.port),
                };
                let client = ClientBuilder::new(&url)
                    .unwrap()
                    .no_proxy()
                    .tls_config(support::tls::trusting(&pair.cert));
                let (description, local) = described(client).await;
                let fields: Vec<&str> = description.split(' ').collect();
                // The handler sees the client's own address, and haproxy's beside it.
                assert_eq!(fields[0], local.to_string(), "{send} {url}: {description}");
                let proxy: SocketAddr = fields[1].parse().unwrap();
                assert_ne!(proxy, local, "{send}");
                assert_eq!(proxy.ip(), local.ip());
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_server_expecting_the_proxy_protocol_refuses_connections_without_it() {
    tokio::time::timeout(LIMIT, async {
        let port = describing_server(true, None).await;
        let url = format!("ws://127.0.0.1:{port}/");
        let error = ClientBuilder::new(&url)
            .unwrap()
            .no_proxy()
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(error, wsio::Error::Io(_)), "{error:?}");

        // A header written by hand: whatever it says is what the handler sees, which is why
        // the protocol stays off unless only a load balancer can reach the port.
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut tcp,
            b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n",
        )
        .await
        .unwrap();
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .connect_on(tcp)
            .await
            .unwrap();
        let Some(Ok(Message::Text(description))) = ws.recv().await else {
            panic!("no description")
        };
        assert!(
            description.starts_with("203.0.113.7:40000 127.0.0.1:"),
            "{description}"
        );

        // Without the setting, a header is no header: the request is malformed.
        let plain = describing_server(false, None).await;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", plain))
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tcp, b"PROXY UNKNOWN\r\n")
            .await
            .unwrap();
        let url = format!("ws://127.0.0.1:{plain}/");
        assert!(
            ClientBuilder::new(&url)
                .unwrap()
                .connect_on(tcp)
                .await
                .is_err()
        );
    })
    .await
    .unwrap();
}

#[test]
fn the_blocking_server_reads_the_proxy_protocol_too() {
    let server = wsio::blocking::Server::builder()
        .proxy_protocol(true)
        .fallback(|mut ws: wsio::blocking::WebSocket<Stream>, request| {
            if ws.send_text(describe(&request)).is_err() {
                return;
            }
            while let Ok(message) = ws.recv() {
                if message.is_data() && ws.send(message).is_err() {
                    return;
                }
            }
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let backend = server.local_addr().unwrap().port();
    let handle = server.handle();
    let serving = std::thread::spawn(move || server.run());
    for send in ["send-proxy", "send-proxy-v2"] {
        let balancer = haproxy_sending(backend, send);
        let url = format!("ws://127.0.0.1:{}/", balancer.port);
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .no_proxy()
            .connect_blocking()
            .unwrap();
        let local = ws.get_ref().local_addr().unwrap();
        let Message::Text(description) = ws.recv().unwrap() else {
            panic!("no description")
        };
        assert!(
            description.starts_with(&format!("{local} 127.0.0.1:")),
            "{send}: {description}"
        );
        ws.send_text("blocking").unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text("blocking"));
        assert!(ws.close(CloseCode::NORMAL, "").unwrap().was_clean);
    }
    // No header: closed unanswered.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", backend)).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    handle.close();
    serving.join().unwrap().unwrap();
}

#[tokio::test]
async fn nginx_upgrades_websockets_and_names_the_client_in_forwarding_headers() {
    tokio::time::timeout(LIMIT, async {
        let backend = describing_server(false, None).await;
        let nginx = nginx_in_front_of(backend);
        let url = format!("ws://127.0.0.1:{}/chat", nginx.port);
        let client = ClientBuilder::new(&url).unwrap().no_proxy();
        let (description, local) = described(client).await;
        let fields: Vec<&str> = description.split(' ').collect();
        // The handler's peer is nginx; the client is in the headers nginx added.
        let peer: SocketAddr = fields[0].parse().unwrap();
        assert_ne!(peer, local, "{description}");
        assert_eq!(fields[1], "-", "{description}");
        assert_eq!(fields[2], local.ip().to_string(), "{description}");
        assert_eq!(fields[3], format!("for={local}"), "{description}");
    })
    .await
    .unwrap();
}
