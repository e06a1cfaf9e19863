//! The operator's control channel: the protocol (pure) and the Unix-socket server.
pub mod protocol;
pub mod server;
