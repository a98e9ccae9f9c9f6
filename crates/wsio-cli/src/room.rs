//! The chat room behind `/chat`: every text message goes to everyone in the room, the sender
//! included, as `NICK: TEXT`; `/nick NAME` changes a nickname; room news starts with `* `.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::{self, error::RecvError};
use wsio::{CloseCode, Message, PreparedMessage, WebSocket};

/// How many lines the room keeps for a member who has not taken them yet. A member that falls
/// further behind is closed with 1013 (try again later): a slow reader must not hold up the
/// room or its memory, and it is told instead of silently missing lines.
const BACKLOG: usize = 256;

/// The longest message the room relays, in bytes; a longer one is closed with 1009.
const MAX_LINE: usize = 4096;

/// The longest nickname, in characters.
const MAX_NICK: usize = 32;

/// One chat room, shared by its members' connections. Each line is prepared once
/// ([`PreparedMessage`]) and the same frames go to every member that can share them.
#[derive(Debug)]
pub struct Room {
    lines: broadcast::Sender<PreparedMessage>,
    guests: AtomicU64,
}

impl Room {
    /// An empty room, to share between the connections that join it.
    pub fn new() -> Arc<Self> {
        Arc::new(Room {
            lines: broadcast::channel(BACKLOG).0,
            guests: AtomicU64::new(0),
        })
    }

    fn say(&self, line: String) {
        // No receiver means nobody is in the room: nobody to tell.
        let _ = self.lines.send(PreparedMessage::text(line));
    }

    /// Serves one member, whose address is `peer` if known, until its connection ends.
    pub async fn join<S>(self: Arc<Self>, ws: WebSocket<S>, peer: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut nick = format!("guest-{}", self.guests.fetch_add(1, Ordering::Relaxed) + 1);
        let mut lines = self.lines.subscribe();
        let compression = ws.negotiated().deflate.map(|params| params.to_string());
        let (mut read, mut write) = ws.split();
        let welcome = format!("* welcome, {nick}: type /nick NAME to change your name");
        if write.send_text(welcome).await.is_err() {
            return;
        }
        tracing::info!(?peer, %nick, ?compression, "joined the chat");
        self.say(format!("* {nick} joined"));
        let mut closing = false;
        loop {
            tokio::select! {
                // Lines first: a member's own line reaches it before the reply to its close.
                biased;
                line = lines.recv(), if !closing => match line {
                    // A failed send ends the connection, which the reader sees.
                    Ok(line) => { let _ = write.send_prepared(&line).await; }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(?peer, %nick, missed, "chat member too slow; closing it");
                        closing = true;
                        let _ = write.send_close(CloseCode::TRY_AGAIN_LATER, "too slow for the room").await;
                    }
                    Err(RecvError::Closed) => break,
                },
                message = read.next() => match message {
                    Some(Ok(Message::Text(text))) if !closing => {
                        let close = match self.said(&mut nick, text.as_str()) {
                            Said::Relayed => None,
                            Said::Reply(reply) => {
                                let _ = write.send_text(reply).await;
                                None
                            }
                            Said::TooLong => Some((CloseCode::MESSAGE_TOO_BIG, "message too long")),
                        };
                        if let Some((code, reason)) = close {
                            closing = true;
                            let _ = write.send_close(code, reason).await;
                        }
                    }
                    Some(Ok(Message::Binary(_))) if !closing => {
                        closing = true;
                        let _ = write.send_close(CloseCode::UNSUPPORTED_DATA, "text only").await;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => tracing::debug!(?peer, %error, "chat connection failed"),
                    None => break,
                },
            }
        }
        self.say(format!("* {nick} left"));
        let close = read.close_info();
        tracing::info!(?peer, %nick, code = ?close.map(|c| u16::from(c.code)), "left the chat");
    }

    /// Acts on a text message from `nick`.
    fn said(&self, nick: &mut String, text: &str) -> Said {
        if text.len() > MAX_LINE {
            return Said::TooLong;
        }
        if let Some(name) = text.strip_prefix("/nick ") {
            let name = name.trim();
            if !valid_nick(name) {
                return Said::Reply(format!(
                    "* a name has 1 to {MAX_NICK} letters, digits, '-', '_' or '.'"
                ));
            }
            self.say(format!("* {nick} is now {name}"));
            *nick = name.to_owned();
            return Said::Relayed;
        }
        if text.starts_with('/') {
            return Said::Reply("* unknown command; try /nick NAME".to_owned());
        }
        self.say(format!("{nick}: {text}"));
        Said::Relayed
    }
}

/// What a member's message led to.
enum Said {
    /// Told the room.
    Relayed,
    /// An answer for the member alone.
    Reply(String),
    /// Longer than the room relays.
    TooLong,
}

fn valid_nick(name: &str) -> bool {
    (1..=MAX_NICK).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_nick_changes_reach_the_room() {
        let room = Room::new();
        let mut lines = room.lines.subscribe();
        let mut nick = "guest-1".to_owned();
        assert!(matches!(room.said(&mut nick, "hello"), Said::Relayed));
        assert!(matches!(room.said(&mut nick, "/nick ana"), Said::Relayed));
        assert_eq!(nick, "ana");
        assert!(matches!(
            room.said(&mut nick, "/nick no spaces"),
            Said::Reply(_)
        ));
        assert!(matches!(room.said(&mut nick, "/dance"), Said::Reply(_)));
        assert!(matches!(
            room.said(&mut nick, &"x".repeat(MAX_LINE + 1)),
            Said::TooLong
        ));
        assert_eq!(
            lines.try_recv().unwrap().message(),
            Message::text("guest-1: hello")
        );
        assert_eq!(
            lines.try_recv().unwrap().message(),
            Message::text("* guest-1 is now ana")
        );
        assert!(lines.try_recv().is_err());
    }
}
