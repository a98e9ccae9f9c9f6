//! An echo server on the blocking API: [`wsio::blocking::Server`], one thread per connection.
//!
//! ```sh
//! cargo run --release -p wsio --example blocking_echo_server -- 127.0.0.1:9001 [--deflate]
//! ```
//!
//! `--deflate` accepts permessage-deflate from clients that offer it.

use wsio::blocking::{Server, Stream, WebSocket};
use wsio::{DeflateConfig, ServerRequest};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let mut builder = Server::builder().fallback(echo);
    if args.any(|arg| arg == "--deflate") {
        builder = builder.deflate(DeflateConfig::default());
    }
    let server = builder.bind(&addr)?;
    eprintln!("blocking echo server listening on ws://{addr}");
    server.run()
}

fn echo(mut ws: WebSocket<Stream>, _: ServerRequest) {
    // Until the connection ends: `recv` fails once it is over (after the peer's close too).
    while let Ok(message) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}
