//! Components the supervisor wraps (mediacore, sync): the control contract (pure), the
//! child-process driver and client the supervisor uses, and the server components embed.
pub mod child;
pub mod client;
pub mod contract;
pub mod server;
