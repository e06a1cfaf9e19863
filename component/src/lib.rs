//! What every Allerta daemon shares, and nothing a daemon decides: the supervisor and the
//! components it wraps (mediacore, sync) speak the contract through these modules, and each
//! daemon sets up its clock and its logs the same way.
//!
//! Pure: `contract` (the lines the supervisor and a component exchange), `civil` (calendar
//! dates), `error` (an error and its causes on one line).
//! Drivers: `server` (a component's side of the contract), `client` (the supervisor's side),
//! `unix` (the Unix-socket listener both the contract and the supervisor's control socket
//! use), `monotonic` and `localtime` (the clocks), `realtime` (SCHED_FIFO), `logging` (the
//! tracing set-up), `journald` (its lines as journal entries under systemd).
pub mod civil;
pub mod client;
pub mod contract;
pub mod error;
pub mod journald;
pub mod localtime;
pub mod lockout;
pub mod log_budget;
pub mod logging;
pub mod monotonic;
pub mod open_files;
pub mod realtime;
pub mod server;
pub mod status_fetch;
pub mod unix;
