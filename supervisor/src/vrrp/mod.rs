//! VRRP: the wire format and state machine (pure), and the thread that drives them.
pub mod driver;
pub mod guard;
pub mod machine;
pub mod packet;
pub mod socket;
pub mod status;
pub mod stranger;
