//! What the hub's integration tests share with each other and with the command's.

pub mod brokers;
