//! Allerta supervisor: keepalived-style VRRP holding the virtual IP on the master, and the
//! wrapper of the node's components (mediacore, sync) that fails over when any of them fails.
//!
//! Pure modules: `config`, `vrrp::packet`, `vrrp::machine`, `arp::garp`, `health::state`,
//! `component::contract`, `firstboot::{env, spec, validate, render}`, `firstboot::nics::choose`,
//! `sla` (availability against the tender's SLA), `civil` (calendar dates),
//! `availability::{ledger, monitor, windows, report}`.
//! Drivers: `vrrp::driver` (one thread per instance), `vrrp::socket`, `vrrp::guard`,
//! `vip` (netlink), `arp::socket`, `realtime`, `component::{child, client, server}`,
//! `health::script`, `firstboot::{source, apply}`, `firstboot::nics::scan`,
//! `availability::{probe, store}` (the service probe and the ledger file), `localtime`,
//! `monotonic` (the clock the dispatch lease is stamped in).
pub mod arp;
pub mod availability;
pub mod civil;
pub mod component;
pub mod config;
pub mod control;
pub mod firstboot;
pub mod health;
pub mod localtime;
pub mod metrics;
pub mod monotonic;
pub mod notify;
pub mod realtime;
pub mod sla;
pub mod supervise;
pub mod systemd;
pub mod vip;
pub mod vrrp;
