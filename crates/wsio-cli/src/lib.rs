//! The chat that `wsio serve` serves, as a library: its page and its room, so that other
//! servers built on wsio (the `axum_chat` example) serve the same chat.

pub mod page;
pub mod room;
