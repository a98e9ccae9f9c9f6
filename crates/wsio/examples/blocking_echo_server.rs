//! An echo server on the blocking API, one thread per connection.
//!
//! ```sh
//! cargo run --release -p wsio --example blocking_echo_server -- 127.0.0.1:9001
//! ```

use std::net::TcpListener;

use wsio::Message;
use wsio::blocking::{self, Stream};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!(
        "blocking echo server listening on ws://{}",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let stream = stream?;
        stream.set_nodelay(true)?;
        std::thread::spawn(move || {
            if let Err(error) = echo(Stream::Tcp(stream)) {
                eprintln!("connection ended: {error}");
            }
        });
    }
    Ok(())
}

fn echo(stream: Stream) -> wsio::Result<()> {
    let mut ws = blocking::accept(stream)?;
    loop {
        match ws.recv()? {
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message)?,
            Message::Close(_) => {
                // Read on until the connection has ended, so the close handshake completes.
                while ws.recv().is_ok() {}
                return Ok(());
            }
            _ => {}
        }
    }
}
