//! SIP (RFC 3261): pure framing, messages, transactions, dialogs, digest, registration and
//! qualify; the drivers (`transport`) move bytes.
pub mod call;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod framing;
pub mod message;
pub mod qualify;
pub mod registration;
pub mod transaction;
pub mod transport;
