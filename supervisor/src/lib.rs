//! Allerta supervisor: keepalived-style VRRP holding the virtual IP on the master, and the
//! wrapper of the node's components (mediacore, sync) that fails over when any of them fails.
//!
//! Pure modules: `alarms` (the problems an operator must act on), `check` (the same as a
//! monitoring plugin sees it), `config`, `vrrp::packet`,
//! `vrrp::machine`, `vrrp::stranger`, `arp::garp`, `health::state`, `sla` (availability
//! against the tender's SLA), `availability::{ledger, monitor, windows, report}`.
//! Drivers: `vrrp::driver` (one thread per instance), `vrrp::socket`, `vrrp::guard`,
//! `vip` (netlink), `arp::socket`, `child` (a component's process and its contract client),
//! `health::script`, `availability::{probe, store}` (the service probe and the ledger file).
//! What every daemon shares (the component contract, the clocks, realtime scheduling) is the
//! `component` crate; first boot is the `firstboot` crate.
pub mod alarms;
pub mod arp;
pub mod availability;
pub mod check;
pub mod child;
pub mod config;
pub mod control;
pub mod health;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod sla;
pub mod supervise;
pub mod systemd;
pub mod vip;
pub mod vrrp;
