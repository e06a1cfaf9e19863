//! The Asterisk Manager Interface: pure framing (`message`), users (`users`, manager.conf)
//! and sessions (`session`); the TCP driver (`server`).
pub mod message;
pub mod server;
pub mod session;
pub mod users;
