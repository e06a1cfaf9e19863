//! Pure: RTP and RTCP (RFC 3550): the packet codec, compound RTCP, and per-stream sender and
//! receiver state, and which source a stream accepts. The socket driver lives elsewhere and only moves bytes.
pub mod packet;
pub mod rtcp;
pub mod session;
pub mod source;

pub use packet::{Header, Packet};
