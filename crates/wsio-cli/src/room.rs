//! The chat room behind `/chat`: every text message goes to everyone in the room, the sender
//! included, as `NICK: TEXT`; `/nick NAME` changes a nickname; room news starts with `* `.
//!
//! The room is one topic of a [`Hub`]: joined to other nodes' hubs through a backplane
//! (`wsio serve --cluster`), the rooms of every node are one room.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use wsio::{CloseCode, Message, PreparedMessage, WebSocket};
use wsio_hub::Hub;

/// How many lines the room keeps for a member who has not taken them yet. A member that falls
/// further behind is closed with 1013 (try again later): a slow reader must not hold up the
/// room or its memory, and it is told instead of silently missing lines.
pub const BACKLOG: usize = 256;

/// The hub topic the room's lines are published to.
pub const TOPIC: &str = "chat";

/// The longest message the room relays, in bytes; a longer one is closed with 1009.
const MAX_LINE: usize = 4096;

/// The longest nickname, and the longest node name, in characters.
pub const MAX_NAME: usize = 32;

/// One chat room, shared by its members' connections. Each line is prepared once
/// ([`PreparedMessage`]) and the same frames go to every member that can share them.
#[derive(Debug)]
pub struct Room {
    hub: Hub,
    /// This node's name, in a cluster.
    node: Option<String>,
    guests: AtomicU64,
}

impl Room {
    /// An empty room on one server, to share between the connections that join it.
    pub fn new() -> Arc<Self> {
        Room::with_node(None)
    }

    /// This node's part of a room spread over several nodes: its guests are named
    /// `guest-N@NODE`, and each member is told the node it is on. Join the room's
    /// [`hub`](Self::hub) to the other nodes' through a backplane.
    pub fn in_cluster(node: impl Into<String>) -> Arc<Self> {
        Room::with_node(Some(node.into()))
    }

    fn with_node(node: Option<String>) -> Arc<Self> {
        Arc::new(Room {
            hub: Hub::builder().backlog(BACKLOG).build(),
            node,
            guests: AtomicU64::new(0),
        })
    }

    /// The hub the room's lines go through, on topic [`TOPIC`].
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    fn say(&self, line: String) {
        self.hub.publish(TOPIC, PreparedMessage::text(line));
    }

    /// A new member's name, and the room's first words to it.
    fn welcome(&self) -> (String, String) {
        let guest = self.guests.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.node {
            None => {
                let nick = format!("guest-{guest}");
                let welcome = format!("* welcome, {nick}: type /nick NAME to change your name");
                (nick, welcome)
            }
            Some(node) => {
                let nick = format!("guest-{guest}@{node}");
                let welcome = format!(
                    "* welcome, {nick}: you are on node {node}; type /nick NAME to change your name"
                );
                (nick, welcome)
            }
        }
    }

    /// Serves one member, whose address is `peer` if known, until its connection ends.
    pub async fn join<S>(self: Arc<Self>, ws: WebSocket<S>, peer: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut nick, welcome) = self.welcome();
        let mut lines = self.hub.subscriber();
        lines.subscribe(TOPIC);
        let compression = ws.negotiated().deflate.map(|params| params.to_string());
        let (mut read, mut write) = ws.split();
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
                    Err(lagged) => {
                        tracing::warn!(?peer, %nick, missed = lagged.missed, "chat member too slow; closing it");
                        closing = true;
                        let _ = write.send_close(CloseCode::TRY_AGAIN_LATER, "too slow for the room").await;
                    }
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
        drop(lines);
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
            if !valid_name(name) {
                return Said::Reply(format!(
                    "* a name has 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"
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

/// Whether `name` may be a nickname or a node's name: 1 to [`MAX_NAME`] letters, digits, `-`,
/// `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.chars().count())
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
        let mut lines = room.hub().subscriber();
        lines.subscribe(TOPIC);
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
            lines.try_recv().unwrap().unwrap().message(),
            Message::text("guest-1: hello")
        );
        assert_eq!(
            lines.try_recv().unwrap().unwrap().message(),
            Message::text("* guest-1 is now ana")
        );
        assert!(lines.try_recv().is_none());
    }

    #[test]
    fn guests_are_named_after_their_node_in_a_cluster() {
        let (nick, welcome) = Room::new().welcome();
        assert_eq!(nick, "guest-1");
        assert!(!welcome.contains("node"), "{welcome}");
        let room = Room::in_cluster("east-1");
        room.welcome();
        let (nick, welcome) = room.welcome();
        assert_eq!(nick, "guest-2@east-1");
        assert_eq!(
            welcome,
            "* welcome, guest-2@east-1: you are on node east-1; type /nick NAME to change your name"
        );
        assert!(valid_name("east-1") && !valid_name(&nick) && !valid_name(""));
    }
}
