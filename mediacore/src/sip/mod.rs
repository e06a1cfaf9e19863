//! SIP (RFC 3261): pure framing, messages, transactions, dialogs, digest, registration and
//! qualify, and what the media core decides for each request (`switch`); the drivers
//! (`transport`) move bytes.
pub mod call;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod framing;
pub mod message;
pub mod nonce;
pub mod parse;
pub mod pike;
pub mod qualify;
pub mod registration;
pub mod switch;
pub mod transaction;
pub mod transport;
pub mod types;
pub mod uas;
