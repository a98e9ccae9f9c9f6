//! The chat that `wsio serve` serves, as a library: its page, its room, and the reading of its
//! certificate, so that other servers built on wsio (the `axum_chat` example) serve the same
//! chat.

pub mod page;
pub mod pem;
pub mod room;
