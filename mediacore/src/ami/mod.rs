//! The Asterisk Manager Interface: pure framing (`message`), users (`users`, manager.conf),
//! sessions (`session`) and their event filters (`filter`), the actions we answer (`catalog`) and the events we send
//! (`events`); the TCP driver (`server`), what its clients share (`context`) and the
//! actions it performs with the media core (`actions`, and `campaigns`: Allerta's own); the
//! listeners as `manager.conf` asks, started, moved and stopped when it changes
//! (`listener`).
pub mod actions;
pub mod admin;
pub mod campaigns;
pub mod catalog;
pub mod cli;
pub mod context;
pub mod events;
pub mod filter;
pub mod listener;
pub mod message;
pub mod pjsip;
pub mod server;
pub mod session;
pub mod users;
pub mod waiting;
