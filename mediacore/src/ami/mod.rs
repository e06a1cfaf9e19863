//! The Asterisk Manager Interface (issue 5): pure framing, users and sessions; the TCP
//! server comes with the driver.
pub mod message;
pub mod session;
pub mod users;
