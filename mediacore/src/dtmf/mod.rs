//! Pure: DTMF as RTP telephone-events (RFC 4733).
pub mod rfc4733;
