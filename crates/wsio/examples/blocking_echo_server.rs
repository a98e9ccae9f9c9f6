//! An echo server on the blocking API: [`wsio::blocking::Server`], one thread per connection.
//!
//! ```sh
//! cargo run --release -p wsio --example blocking_echo_server -- 127.0.0.1:9001
//! ```

use wsio::ServerRequest;
use wsio::blocking::{Server, Stream, WebSocket};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let server = Server::builder().fallback(echo).bind(&addr)?;
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
