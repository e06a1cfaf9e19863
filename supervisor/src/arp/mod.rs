//! Gratuitous ARP: the frame (pure) and the packet socket that sends it (driver).
pub mod garp;
pub mod socket;
