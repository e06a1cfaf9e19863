//! Pure: DTMF as RTP telephone-events (RFC 4733): the packets (`rfc4733`) and the digits a
//! call sends, slot by slot (`outgoing`).
pub mod outgoing;
pub mod rfc4733;
