//! A hyper 1.x server with a plain HTTP route and a WebSocket route on one port: `GET /`
//! answers with text, and `/ws` upgrades to a WebSocket that echoes every text and binary
//! message.
//!
//! ```sh
//! cargo run -p wsio --features hyper --example hyper_server -- 127.0.0.1:9001
//! curl http://127.0.0.1:9001/
//! ```
//!
//! Then point a WebSocket client at `ws://127.0.0.1:9001/ws`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsio::Upgrading;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    eprintln!("serving http://{local}/ and ws://{local}/ws");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(route))
                // Without this, hyper would close the connection instead of handing it over.
                .with_upgrades();
            if let Err(error) = connection.await {
                eprintln!("connection failed: {error}");
            }
        });
    }
}

async fn route(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => Ok(Response::new(Full::from("Hello over HTTP.\n"))),
        (_, "/ws") => {
            // A request that is not a valid upgrade gets its error response (400 or 426).
            let (response, upgrading) = wsio::upgrade(&mut request);
            match upgrading {
                // hyper sends the response once it is returned, so the echo runs in a task
                // of its own.
                Ok(upgrading) => {
                    tokio::spawn(echo(upgrading));
                }
                Err(error) => eprintln!("upgrade refused: {error}"),
            }
            Ok(response)
        }
        _ => {
            let mut response = Response::new(Full::from("Not found.\n"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok(response)
        }
    }
}

async fn echo(upgrading: Upgrading) {
    let mut ws = match upgrading.await {
        Ok(ws) => ws,
        Err(error) => return eprintln!("upgrade failed: {error}"),
    };
    while let Some(message) = ws.recv().await {
        match message {
            Ok(message) if message.is_data() => {
                if let Err(error) = ws.send(message).await {
                    return eprintln!("connection failed: {error}");
                }
            }
            Ok(_) => {}
            Err(error) => return eprintln!("connection failed: {error}"),
        }
    }
}
