//! Allerta supervisor: keepalived-style VRRP holding the virtual IP on the master.
//!
//! Pure modules: `config`, `vrrp::packet`, `vrrp::machine`, `arp::garp`.
//! Drivers: `vrrp::driver` (one thread per instance), `vrrp::socket`, `vrrp::guard`,
//! `vip` (netlink), `arp::socket`, `realtime`.
pub mod arp;
pub mod config;
pub mod realtime;
pub mod vip;
pub mod vrrp;
