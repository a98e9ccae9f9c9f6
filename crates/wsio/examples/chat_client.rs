//! A chat client that survives server restarts: lines typed on stdin go out as text messages,
//! messages that arrive are printed, and the connection comes back by itself.
//!
//! ```sh
//! cargo run -p wsio --example echo_server -- 127.0.0.1:9001 &
//! cargo run -p wsio --example chat_client -- ws://127.0.0.1:9001/
//! ```
//!
//! Stop and restart the server while typing: lines typed in between are queued and sent once
//! the client is back; lines that may have been lost in the drop are reported. End stdin
//! (Ctrl-D) to close.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use wsio::proto::Backoff;
use wsio::reconnect::{Event, Policy, ReconnectingClient};
use wsio::{CloseCode, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsio::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let policy = Policy::default().backoff(
        Backoff::default()
            .initial(Duration::from_millis(250))
            .max(Duration::from_secs(5))
            .jitter(Duration::from_millis(250)),
    );
    let (client, mut events) = ReconnectingClient::builder(&url)?
        .policy(policy)
        .on_restore(|mut session| async move {
            // A real chat would log in and rejoin its rooms here.
            let name = if session.info().is_reconnect {
                "back"
            } else {
                "joined"
            };
            session.send_text(format!("* {name}")).await
        })
        .start();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut typing = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if typing => match line? {
                Some(line) => {
                    if let Err(error) = client.send_text(line) {
                        let reason = error.to_string();
                        eprintln!("not sent ({reason}): {:?}", error.into_message());
                    }
                }
                None => {
                    typing = false;
                    client.close(CloseCode::NORMAL, "bye").await?;
                }
            },
            event = events.recv() => match event {
                None => return Ok(()),
                Some(Event::Message(Message::Text(text))) => println!("{text}"),
                Some(Event::Message(message)) => println!("({} bytes)", message.payload().len()),
                Some(Event::Connected { session, .. }) => {
                    eprintln!("connected (attempt {})", session.attempt);
                }
                Some(Event::Closed(disconnect)) => {
                    eprintln!("disconnected: {:?} {}", disconnect.code, disconnect.reason);
                }
                Some(Event::Error(error)) => eprintln!("error: {error}"),
                Some(Event::Reconnecting { attempt, delay, .. }) => {
                    eprintln!("reconnecting (attempt {attempt}) in {delay:?}");
                }
                Some(Event::Unsent(messages)) => {
                    for message in messages {
                        eprintln!("may not have arrived: {:?}", message.payload());
                    }
                }
                Some(_) => {}
            },
        }
    }
}
